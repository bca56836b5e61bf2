"""The audit log records who changed what, never a secret, and only managers read it."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from jobs import audit, tokens
from jobs.models import AuditEvent, Role

pytestmark = pytest.mark.django_db


def test_secret_values_never_reach_the_table(team: Any, user: Any) -> None:
    raw = tokens.generate()
    event = audit.record(
        team,
        user,
        "provider_account.updated",
        f"leaked {raw}",
        api_key="sk-live-123456",
        password="hunter2",
        nested={"token": raw, "note": f"see {raw}"},
        price_key="4x",
        token_prefix="ups_abcdefgh",
    )
    stored = str(AuditEvent.objects.filter(pk=event.pk).values().get())
    assert raw not in stored and "sk-live" not in stored and "hunter2" not in stored
    assert event.detail["api_key"] == "changed" and event.detail["price_key"] == "4x"
    assert event.detail["token_prefix"] == "ups_abcdefgh"


def test_log_page_is_for_owners_and_admins(alice: Any, login_as: Any, team: Any, user: Any) -> None:
    audit.record(team, user, "budget.saved", "Team budget", limit={"old": 10, "new": 20})
    page = alice.get(reverse("jobs:team_audit")).content.decode()
    assert "set a budget" in page and "limit: 10 → 20" in page
    assert login_as("adam", Role.ADMIN).get(reverse("jobs:team_audit")).status_code == 200
    assert login_as("mia", Role.MEMBER).get(reverse("jobs:team_audit")).status_code == 403


def test_log_shows_only_the_teams_events(alice: Any, other_team: Any, other_user: Any) -> None:
    audit.record(other_team, other_user, "member.invited", "secret-plans@example.com")
    assert "secret-plans" not in alice.get(reverse("jobs:team_audit")).content.decode()
