"""The team's side of share links: create (token shown once), list with state, revoke."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from jobs import sharing
from jobs.models import ShareLink
from tests.sharing.conftest import expire, share

pytestmark = pytest.mark.django_db


def create(client: Any, **data: Any) -> Any:
    return client.post(reverse("jobs:share_create"), {"expiry": "7d", **data})


def shown_url(response: Any) -> str:
    match = re.search(r'value="(http[^"]+/shared/[^"]+/)"', response.content.decode())
    assert match, "the new link is shown"
    return match.group(1)


def test_creating_a_link_shows_it_once(alice: Any, result: Any) -> None:
    response = create(alice, result=result.pk, password="s3cret-pw", allow_download="on")
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    url = shown_url(response)
    link = ShareLink.objects.get()
    token = url.rstrip("/").rsplit("/", 1)[1]
    assert link.token_hash == sharing.hash_token(token)
    assert link.allow_download and link.password_hash and link.result == result
    listing = alice.get(reverse("jobs:share_links")).content.decode()
    assert token not in listing and "Active" in listing


def test_a_board_can_be_shared(alice: Any, board: Any) -> None:
    shown_url(create(alice, batch=board.pk, expiry="30d"))
    assert ShareLink.objects.get().batch == board


def test_never_without_confirmation_is_refused(alice: Any, result: Any) -> None:
    response = create(alice, result=result.pk, expiry="never")
    assert response.status_code == 400
    assert "must be confirmed" in response.content.decode()
    assert not ShareLink.objects.exists()
    create(alice, result=result.pk, expiry="never", confirm_never="on")
    assert ShareLink.objects.get().expires_at is None


def test_the_share_form_is_also_a_page(alice: Any, result: Any) -> None:
    response = alice.get(reverse("jobs:share_create"), {"result": result.pk})
    assert response.status_code == 200 and b'name="expiry"' in response.content


def test_list_shows_state_views_and_last_access(
    alice: Any, team: Any, user: Any, result: Any, board: Any
) -> None:
    live = share(team, user, result=result)
    old = share(team, user, batch=board, password="pw-123456")
    dead = share(team, user, result=result)
    expire(old.link)
    sharing.revoke(dead.link)
    alice.get(reverse("jobs:shared", args=[live.token]))
    page = alice.get(reverse("jobs:share_links")).content.decode()
    assert f'id="link-{live.link.pk}" data-state="active"' in page
    assert f'id="link-{old.link.pk}" data-state="expired"' in page
    assert f'id="link-{dead.link.pk}" data-state="revoked"' in page
    assert "password" in page and "for the Acme review" in page


def test_revoke_one_link_with_htmx_returns_its_row(
    alice: Any, team: Any, user: Any, result: Any
) -> None:
    new = share(team, user, result=result)
    url = reverse("jobs:share_revoke", args=[new.link.pk])
    response = alice.post(url, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b'data-state="revoked"' in response.content
    assert sharing.resolve(new.token) is None
    assert alice.get(reverse("jobs:shared", args=[new.token])).status_code == 404


def test_revoke_all_links_of_a_result_from_its_page(
    alice: Any, team: Any, user: Any, result: Any
) -> None:
    links = [share(team, user, result=result) for _ in range(2)]
    detail = reverse("jobs:result_detail", args=[result.pk])
    assert b"Revoke all links of this result" in alice.get(detail).content
    response = alice.post(reverse("jobs:share_revoke_all"), {"result": result.pk, "next": detail})
    assert response.status_code == 302 and response["Location"] == detail
    assert all(sharing.resolve(new.token) is None for new in links)


def test_revoke_all_does_not_follow_an_outside_next(alice: Any, result: Any) -> None:
    response = alice.post(
        reverse("jobs:share_revoke_all"), {"result": result.pk, "next": "https://evil.test/"}
    )
    assert response["Location"] == reverse("jobs:share_links")


def test_other_teams_items_and_links_are_404(
    alice: Any, other_team: Any, other_user: Any, foreign_result: Any
) -> None:
    foreign = share(other_team, other_user, result=foreign_result)
    calls = [
        ("post", reverse("jobs:share_create"), {"result": foreign_result.pk, "expiry": "7d"}),
        ("get", reverse("jobs:share_create"), {"result": foreign_result.pk}),
        ("post", reverse("jobs:share_create"), {"batch": foreign_result.job.batch_id}),
        ("post", reverse("jobs:share_revoke", args=[foreign.link.pk]), {}),
        ("post", reverse("jobs:share_revoke_all"), {"result": foreign_result.pk}),
        ("post", reverse("jobs:share_revoke_all"), {"batch": foreign_result.job.batch_id}),
    ]
    for method, url, data in calls:
        assert getattr(alice, method)(url, data).status_code == 404, url
    assert sharing.resolve(foreign.token) == foreign.link
    assert ShareLink.objects.count() == 1
    assert "for the Acme review" not in alice.get(reverse("jobs:share_links")).content.decode()


def test_team_pages_need_login(client: Any, result: Any) -> None:
    for url in (reverse("jobs:share_links"), reverse("jobs:share_create") + f"?result={result.pk}"):
        response = client.get(url)
        assert response.status_code == 302 and "/login/" in response["Location"]
