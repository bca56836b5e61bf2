"""Provider keys are encrypted at rest with their own key, and rotation re-encrypts them all."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection

from jobs import crypto, services
from jobs.models import ProviderAccount

pytestmark = pytest.mark.django_db

SECRET = "sk-live-very-secret-value-1234"


@pytest.fixture
def account(team: Any) -> ProviderAccount:
    account = ProviderAccount.objects.create(team=team, provider="aimlapi", label="Main")
    services.set_account_key(account, SECRET)
    return account


def raw_rows() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM jobs_provideraccount")
        return cursor.fetchall()


def test_no_plaintext_key_in_the_database(account: ProviderAccount) -> None:
    dump = repr(raw_rows())
    assert SECRET not in dump
    assert SECRET[-4:] in dump  # only the masked hint keeps the last four characters
    assert crypto.decrypt(ProviderAccount.objects.get().api_key_encrypted) == SECRET


def test_the_key_is_not_secret_key(settings: Any, account: ProviderAccount) -> None:
    settings.FIELD_ENCRYPTION_KEYS = [settings.SECRET_KEY]
    with pytest.raises(ValueError, match="cannot be decrypted"):
        crypto.decrypt(ProviderAccount.objects.get().api_key_encrypted)


def test_mask_shows_at_most_four_characters() -> None:
    assert crypto.mask(SECRET) == "••••1234"
    assert crypto.mask("short") == "••••"
    assert crypto.mask("") == ""


def test_rotation_re_encrypts_every_row(settings: Any, team: Any, account: Any) -> None:
    other = ProviderAccount.objects.create(team=team, provider="ideogram", label="Main")
    services.set_account_key(other, "ideogram-key-5678")
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    before = dict(ProviderAccount.objects.values_list("pk", "api_key_encrypted"))

    settings.FIELD_ENCRYPTION_KEYS = ["brand-new-rotation-key", old_key]
    call_command("rotate_provider_keys")
    after = dict(ProviderAccount.objects.values_list("pk", "api_key_encrypted"))
    assert all(after[pk] != before[pk] for pk in before)

    settings.FIELD_ENCRYPTION_KEYS = ["brand-new-rotation-key"]  # the old key is gone
    assert crypto.decrypt(after[account.pk]) == SECRET
    assert crypto.decrypt(after[other.pk]) == "ideogram-key-5678"
