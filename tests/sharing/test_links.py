"""Share tokens, expiry, passwords and revocation (jobs.sharing)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import sharing
from jobs.models import ShareLink
from tests.sharing.conftest import expire, share

pytestmark = pytest.mark.django_db


def test_token_is_long_random_and_only_its_hash_is_stored(
    team: Any, user: Any, result: Any
) -> None:
    new = share(team, user, result=result)
    assert len(new.token) >= 43  # 32 random bytes, URL-safe base64: 256 bits
    stored = ShareLink.objects.get()
    assert stored.token_hash == sharing.hash_token(new.token) != new.token
    assert new.token not in str(ShareLink.objects.values().get())
    assert share(team, user, result=result).token != new.token


def test_default_expiry_is_seven_days(team: Any, user: Any, result: Any) -> None:
    link = share(team, user, result=result).link
    assert abs(link.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(seconds=5)


def test_never_must_be_chosen_on_purpose() -> None:
    with pytest.raises(sharing.ShareError, match="must be confirmed"):
        sharing.expiry_from_choice("never", confirm_never=False)
    assert sharing.expiry_from_choice("never", confirm_never=True) is None
    assert sharing.expiry_from_choice("30d", confirm_never=False) == timedelta(days=30)
    with pytest.raises(sharing.ShareError):
        sharing.expiry_from_choice("forever-ish", confirm_never=True)


def test_resolve_accepts_only_a_live_link(team: Any, user: Any, result: Any) -> None:
    live, never, old, dead = (share(team, user, result=result) for _ in range(4))
    ShareLink.objects.filter(pk=never.link.pk).update(expires_at=None)
    expire(old.link)
    sharing.revoke(dead.link)
    assert sharing.resolve(live.token) == live.link
    assert sharing.resolve(never.token) == never.link
    assert sharing.resolve(old.token) is None
    assert sharing.resolve(dead.token) is None
    assert sharing.resolve(live.token[:-1] + "x") is None
    assert sharing.resolve("") is None


def test_password_is_hashed_and_checked(team: Any, user: Any, result: Any) -> None:
    link = share(team, user, result=result, password="open sesame").link
    assert "open sesame" not in link.password_hash and link.password_hash
    assert sharing.password_ok(link, "open sesame")
    assert not sharing.password_ok(link, "open sesame!")
    assert not sharing.password_ok(link, "")


def test_views_and_last_access_are_counted(team: Any, user: Any, result: Any) -> None:
    link = share(team, user, result=result).link
    sharing.record_view(link)
    sharing.record_view(link)
    sharing.record_access(link)
    link.refresh_from_db()
    assert link.view_count == 2 and link.last_accessed_at is not None
    # Images fetched within the same minute do not each write the access time.
    seen = link.last_accessed_at
    with CaptureQueriesContext(connection) as queries:
        sharing.record_access(link)
    assert len(queries) == 0 and link.last_accessed_at == seen


def test_revoke_all_kills_every_link_of_one_item_only(
    team: Any, user: Any, result: Any, board: Any
) -> None:
    mine = [share(team, user, result=result) for _ in range(3)]
    other = share(team, user, batch=board)
    assert sharing.revoke_all(team, result=result) == 3
    assert all(sharing.resolve(new.token) is None for new in mine)
    assert sharing.resolve(other.token) == other.link
    assert not sharing.revoke(mine[0].link)  # already revoked


def test_states_for_the_list(team: Any, user: Any, result: Any) -> None:
    live, old, dead = (share(team, user, result=result).link for _ in range(3))
    expire(old)
    sharing.revoke(dead)
    states = {link.pk: link.state for link in sharing.with_states(sharing.team_links(team))}
    assert states == {live.pk: "active", old.pk: "expired", dead.pk: "revoked"}


def test_cannot_share_another_teams_result_or_nothing(
    team: Any, user: Any, foreign_result: Any, result: Any, board: Any
) -> None:
    with pytest.raises(sharing.ShareError):
        share(team, user, result=foreign_result)
    with pytest.raises(sharing.ShareError):
        share(team, user)
    with pytest.raises(sharing.ShareError):
        share(team, user, result=result, batch=board)


def test_creating_and_revoking_links_is_audited(team: Any, user: Any) -> None:
    from jobs.models import AuditEvent
    from tests.factories import local_job

    result = local_job(team, user, run=True).results.get()
    new = sharing.create_link(team, user, result=result, label="For the client")
    sharing.revoke(new.link, actor=user)
    sharing.revoke(new.link, actor=user)  # already dead: no second event
    actions = list(AuditEvent.objects.filter(team=team).values_list("action", flat=True))
    assert actions.count("share_link.created") == 1
    assert actions.count("share_link.revoked") == 1
    assert new.token not in repr(list(AuditEvent.objects.values_list("target", "detail")))
