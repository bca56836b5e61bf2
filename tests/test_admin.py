"""The admin lists every model, and never shows a secret."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib import admin
from django.urls import reverse

from jobs import services
from jobs.models import ProviderAccount

pytestmark = pytest.mark.django_db


def test_every_model_list_renders(admin_client: Any, team: Any) -> None:
    for model in admin.site._registry:
        meta = model._meta
        url = reverse(f"admin:{meta.app_label}_{meta.model_name}_changelist")
        assert admin_client.get(url).status_code == 200, url


def test_provider_key_is_never_shown(admin_client: Any, team: Any) -> None:
    account = ProviderAccount.objects.create(team=team, provider="aimlapi", label="Main")
    services.set_account_key(account, "sk-secret-admin-check-9876")
    url = reverse("admin:jobs_provideraccount_change", args=[account.pk])
    page = admin_client.get(url).content.decode()
    assert "sk-secret-admin-check" not in page
    assert account.api_key_encrypted not in page
    assert "9876" in page  # the masked hint only
