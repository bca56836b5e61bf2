"""Personal API tokens: format, checksum, shown once, hashed, revocable, scoped."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from jobs import tokens
from jobs.models import ApiToken, AuditEvent, Role

pytestmark = pytest.mark.django_db


def test_format_prefix_and_checksum() -> None:
    raw = tokens.generate()
    assert raw.startswith("ups_") and len(raw) == tokens.TOKEN_LENGTH
    assert tokens.is_well_formed(raw)
    body = raw[4:-6]
    assert raw[-6:] == tokens.checksum(body)
    flipped = raw[:10] + ("a" if raw[10] != "a" else "b") + raw[11:]
    assert not tokens.is_well_formed(flipped)
    assert not tokens.is_well_formed(raw[:-1])
    assert not tokens.is_well_formed("ghp_" + raw[4:])
    assert not tokens.is_well_formed(raw[:-1] + "!")


def test_tokens_are_random() -> None:
    assert len({tokens.generate() for _ in range(50)}) == 50


def create_on_page(client: Client, name: str = "nightly") -> str:
    response = client.post(reverse("jobs:team_tokens"), {"name": name})
    assert response.status_code == 201
    found = re.search(r'value="(ups_[A-Za-z0-9]+)"', response.content.decode())
    assert found, "the new token is shown in the response"
    return found.group(1)


def test_created_on_the_page_shown_once_stored_as_hash(alice: Client, team: Any) -> None:
    raw = create_on_page(alice)
    stored = ApiToken.objects.get()
    assert stored.token_hash == tokens.hash_token(raw) and stored.prefix == raw[:12]
    assert stored.team == team and stored.name == "nightly"
    later = alice.get(reverse("jobs:team_tokens")).content.decode()
    assert raw not in later and stored.prefix in later
    event = AuditEvent.objects.get(action="token.created")
    assert raw not in str(event.detail) and event.detail == {"token_prefix": stored.prefix}


def test_revoke_from_the_page(alice: Client) -> None:
    raw = create_on_page(alice)
    token = ApiToken.objects.get()
    response = alice.post(reverse("jobs:team_token_revoke", args=[token.pk]))
    assert response.status_code == 302
    assert tokens.authenticate(raw) is None
    assert "Revoked" in alice.get(reverse("jobs:team_tokens")).content.decode()
    assert AuditEvent.objects.filter(action="token.revoked").exists()


def test_members_see_and_revoke_only_their_own(
    alice: Client, user: Any, team: Any, login_as: Any
) -> None:
    alices, _raw = tokens.create_token(user, team, "alice's script")
    member = login_as("mia", Role.MEMBER)
    create_on_page(member, "mia's script")
    page = member.get(reverse("jobs:team_tokens")).content.decode()
    assert "mia&#x27;s script" in page and "alice&#x27;s script" not in page
    response = member.post(reverse("jobs:team_token_revoke", args=[alices.pk]))
    assert response.status_code == 404
    alices.refresh_from_db()
    assert alices.revoked_at is None


def test_owners_see_and_revoke_everyones(alice: Client, team: Any, join: Any) -> None:
    mia = join("mia", Role.MEMBER)
    token, raw = tokens.create_token(mia, team, "mia's script")
    assert "mia&#x27;s script" in alice.get(reverse("jobs:team_tokens")).content.decode()
    alice.post(reverse("jobs:team_token_revoke", args=[token.pk]))
    assert tokens.authenticate(raw) is None


def test_viewers_may_have_read_only_tokens(login_as: Any) -> None:
    viewer = login_as("victor", Role.VIEWER)
    raw = create_on_page(viewer)
    assert tokens.authenticate(raw).membership.role == Role.VIEWER


def test_token_only_for_a_team_the_user_is_in(user: Any, other_team: Any) -> None:
    with pytest.raises(tokens.TokenError):
        tokens.create_token(user, other_team, "sneaky")


def test_other_teams_tokens_are_404(alice: Client, other_user: Any, other_team: Any) -> None:
    foreign, raw = tokens.create_token(other_user, other_team, "theirs")
    assert alice.post(reverse("jobs:team_token_revoke", args=[foreign.pk])).status_code == 404
    assert tokens.authenticate(raw) is not None
