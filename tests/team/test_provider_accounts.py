"""The Providers page: masked keys, adding and editing accounts, checking a connection."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import respx
from django.test import Client
from django.urls import reverse

from jobs import crypto, services
from jobs.models import AuditEvent, ProviderAccount

pytestmark = pytest.mark.django_db
AIML = "https://aiml.example"
REAL_KEY = "sk-aiml-0123456789abcdef"


@pytest.fixture
def account(team: Any) -> ProviderAccount:
    found = ProviderAccount.objects.create(
        team=team, provider="aimlapi", label="Main", base_url=AIML
    )
    services.set_account_key(found, REAL_KEY)
    return found


def test_page_shows_masked_keys_sandbox_label_and_input_kinds(
    alice: Client, team: Any, account: ProviderAccount
) -> None:
    services.ensure_sandbox_accounts(team)
    page = alice.get(reverse("jobs:provider_accounts")).content.decode()
    assert "AI/ML API" in page and "useapi.net (Dreamina)" in page
    assert "Sandbox" in page and "••••cdef" in page
    assert REAL_KEY not in page and account.api_key_encrypted not in page
    assert "images it generated itself" in page  # useapi / imagineapi can only take references
    assert "Cannot take:</strong> uploaded images" in page


def test_add_an_account_stores_the_key_encrypted(alice: Client, team: Any) -> None:
    response = alice.post(
        reverse("jobs:provider_account_add"),
        {"provider": "ideogram", "label": "Studio", "api_key": "ideo-secret-key-42",
         "base_url": "", "max_in_flight": "10"},
    )  # fmt: skip
    assert response.status_code == 302
    account = ProviderAccount.objects.get(team=team, provider="ideogram")
    assert account.api_key_encrypted != "ideo-secret-key-42"
    assert crypto.decrypt(account.api_key_encrypted) == "ideo-secret-key-42"
    assert account.api_key_hint == "••••y-42" and account.max_in_flight == 10
    events = str(list(AuditEvent.objects.values()))
    assert "provider_account.created" in events and "ideo-secret" not in events


def test_duplicate_label_is_a_clear_error(alice: Client, account: ProviderAccount) -> None:
    response = alice.post(
        reverse("jobs:provider_account_add"),
        {"provider": "aimlapi", "label": "Main", "api_key": "other", "max_in_flight": "4"},
    )
    assert response.status_code == 400
    assert "already has" in response.content.decode()


def test_edit_replaces_the_key_and_settings(alice: Client, account: ProviderAccount) -> None:
    url = reverse("jobs:provider_account_edit", args=[account.pk])
    data = {"api_key": "sk-new-key-999999", "base_url": "https://eu.aiml.example",
            "max_in_flight": "2"}  # fmt: skip
    assert alice.post(url, data).status_code == 302  # is_active left unticked: switched off
    account.refresh_from_db()
    assert crypto.decrypt(account.api_key_encrypted) == "sk-new-key-999999"
    assert account.base_url == "https://eu.aiml.example" and account.max_in_flight == 2
    assert account.is_active is False
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"provider_account.updated", "provider_account.key_changed"} <= actions
    assert "sk-new" not in str(list(AuditEvent.objects.values()))


def test_edit_with_an_empty_key_keeps_it(alice: Client, account: ProviderAccount) -> None:
    url = reverse("jobs:provider_account_edit", args=[account.pk])
    alice.post(url, {"api_key": "", "base_url": AIML, "max_in_flight": "4", "is_active": "on"})
    account.refresh_from_db()
    assert crypto.decrypt(account.api_key_encrypted) == REAL_KEY
    assert not AuditEvent.objects.exists()  # nothing changed, nothing recorded


def check(client: Client, account: ProviderAccount, **headers: str) -> Any:
    return client.post(reverse("jobs:provider_account_check", args=[account.pk]), headers=headers)


@respx.mock
def test_check_connection_good_key(alice: Client, account: ProviderAccount) -> None:
    route = respx.post(f"{AIML}/v1/images/generations").respond(400, json={"message": "no image"})
    response = check(alice, account, HX_Request="true")
    assert route.called
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {REAL_KEY}"
    html = response.content.decode()
    assert 'class="check-result ok"' in html and "accepted the API key" in html
    assert "<html" not in html  # htmx gets only the verdict


@respx.mock
def test_check_connection_tells_a_bad_key(alice: Client, account: ProviderAccount) -> None:
    respx.post(f"{AIML}/v1/images/generations").respond(401, json={"message": "Invalid key"})
    html = check(alice, account).content.decode()
    assert "refused this account" in html and "Invalid key" in html
    assert REAL_KEY not in html
    account.refresh_from_db()
    assert "did not accept the API key" in account.health_message


@respx.mock
def test_check_connection_tells_a_dead_host(alice: Client, account: ProviderAccount) -> None:
    respx.post(f"{AIML}/v1/images/generations").mock(side_effect=httpx.ConnectError("refused"))
    html = check(alice, account, HX_Request="true").content.decode()
    assert "Could not get an answer" in html and "key was not checked" in html
    account.refresh_from_db()
    assert account.health_message == ""  # a dead host says nothing about the key


def test_other_teams_accounts_are_404(alice: Client, other_team: Any) -> None:
    (foreign, *_rest) = services.ensure_sandbox_accounts(other_team)
    for name in ["jobs:provider_account_edit", "jobs:provider_account_check"]:
        response = alice.post(reverse(name, args=[foreign.pk]), {"api_key": "mine-now"})
        assert response.status_code == 404
    foreign.refresh_from_db()
    assert crypto.decrypt(foreign.api_key_encrypted).startswith("sandbox-")


@pytest.mark.parametrize(("provider", "expected"), [("ideogram", 10), ("aimlapi", 4)])
def test_in_flight_limit_defaults_to_the_providers_own(
    alice: Client, team: Any, provider: str, expected: int
) -> None:
    alice.post(
        reverse("jobs:provider_account_add"),
        {"provider": provider, "label": "Studio", "api_key": "key-1234", "max_in_flight": ""},
    )
    assert ProviderAccount.objects.get(team=team, provider=provider).max_in_flight == expected
