"""The public side of share links: what a link opens, and everything it must refuse.

Every share endpoint is tried with an expired link, a revoked link, a wrong password, no
password, and another item (another team's, or one the link does not share): each answers
404 or 401, with no image and nothing about the team in the body.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from django.urls import reverse
from PIL import Image

from jobs import sharing
from jobs.models import ResultImage
from tests.sharing.conftest import SOURCE_NAME, expire, share

pytestmark = pytest.mark.django_db

KINDS = ("thumb", "full", "download", "source")
SECRETS = ("Alice's studio", "Alice&#x27;s studio", "alice", SOURCE_NAME, "Acme", "local")


def page_url(token: str) -> str:
    return reverse("jobs:shared", args=[token])


def image_url(token: str, pk: int, kind: str) -> str:
    return reverse("jobs:shared_image", args=[token, pk, kind])


def endpoints(token: str, pk: int) -> list[tuple[str, str, dict[str, str]]]:
    """(method, url, data) of every public endpoint for one link and one result."""
    calls = [("get", page_url(token), {}), ("post", page_url(token), {"password": "guess"})]
    calls += [("get", image_url(token, pk, kind), {}) for kind in KINDS]
    return calls


def assert_refused(response: Any, where: str) -> None:
    assert response.status_code in (401, 404), where
    assert not response["Content-Type"].startswith("image/"), where
    assert "Content-Disposition" not in response, where
    body = b"".join(response) if response.streaming else response.content
    text = body.decode(errors="replace")
    for secret in SECRETS:
        assert secret not in text, f"{where} leaked {secret!r}"
    assert response["Referrer-Policy"] == "no-referrer", where
    assert "noindex" in response["X-Robots-Tag"], where


def call(client: Any, method: str, url: str, data: dict[str, str]) -> Any:
    return getattr(client, method)(url, data)


def revoked(link: Any) -> None:
    sharing.revoke(link)


@pytest.mark.parametrize("spoil", [expire, revoked], ids=["expired", "revoked"])
@pytest.mark.parametrize("item", ["result", "board"])
def test_expired_and_revoked_links_are_404_everywhere(
    client: Any, team: Any, user: Any, result: Any, board: Any, spoil: Callable, item: str
) -> None:
    target = {"result": result} if item == "result" else {"batch": board}
    new = share(team, user, allow_download=True, **target)
    pk = result.pk if item == "result" else board.jobs.first().results.get().pk
    spoil(new.link)
    for method, url, data in endpoints(new.token, pk):
        response = call(client, method, url, data)
        assert response.status_code == 404, url
        assert_refused(response, url)


@pytest.mark.parametrize("password", ["", "wrong password"], ids=["no password", "wrong password"])
def test_a_protected_link_refuses_without_the_right_password(
    client: Any, team: Any, user: Any, result: Any, password: str
) -> None:
    new = share(team, user, result=result, password="correct horse", allow_download=True)
    if password:
        assert client.post(page_url(new.token), {"password": password}).status_code == 401
    for method, url, data in endpoints(new.token, result.pk):
        response = call(client, method, url, data)
        assert response.status_code == 401, url
        assert_refused(response, url)
    new.link.refresh_from_db()
    assert new.link.view_count == 0


@pytest.mark.parametrize("item", ["result", "board"])
def test_other_items_are_404_through_a_working_link(
    client: Any,
    team: Any,
    user: Any,
    result: Any,
    board: Any,
    foreign_result: Any,
    item: str,
) -> None:
    target = {"result": result} if item == "result" else {"batch": board}
    new = share(team, user, allow_download=True, **target)
    # Another team's result, and one of this team the link does not share.
    not_shared = result if item == "board" else board.jobs.first().results.get()
    for other in (foreign_result, not_shared):
        for kind in KINDS:
            url = image_url(new.token, other.pk, kind)
            response = client.get(url)
            assert response.status_code == 404, url
            assert_refused(response, url)
    page = client.get(page_url(new.token), {"r": foreign_result.pk}).content.decode()
    assert image_url(new.token, foreign_result.pk, "full") not in page


def test_download_is_404_unless_the_link_allows_it(
    client: Any, team: Any, user: Any, result: Any
) -> None:
    new = share(team, user, result=result, allow_download=False)
    assert client.get(image_url(new.token, result.pk, "full")).status_code == 200
    response = client.get(image_url(new.token, result.pk, "download"))
    assert_refused(response, "download")
    assert "Download" not in client.get(page_url(new.token)).content.decode()


def test_an_unknown_kind_or_token_is_404(client: Any, team: Any, user: Any, result: Any) -> None:
    new = share(team, user, result=result)
    assert_refused(client.get(image_url(new.token, result.pk, "original")), "kind")
    assert_refused(client.get(page_url("x" * 43)), "token")


def test_the_right_password_opens_this_link_only(
    client: Any, team: Any, user: Any, result: Any
) -> None:
    first = share(team, user, result=result, password="pw-one-1")
    second = share(team, user, result=result, password="pw-one-1")
    response = client.post(page_url(first.token), {"password": "pw-one-1"})
    assert response.status_code == 302 and response["Location"] == page_url(first.token)
    assert client.get(page_url(first.token)).status_code == 200
    assert client.get(image_url(first.token, result.pk, "full")).status_code == 200
    assert client.get(page_url(second.token)).status_code == 401
    assert client.get(image_url(second.token, result.pk, "full")).status_code == 401


def test_too_many_wrong_passwords_lock_the_link_for_a_while(
    client: Any, team: Any, user: Any, result: Any
) -> None:
    new = share(team, user, result=result, password="right-one")
    codes = [
        client.post(page_url(new.token), {"password": f"no{n}"}).status_code for n in range(11)
    ]
    assert codes[:10] == [401] * 10 and codes[10] == 429
    locked = client.post(page_url(new.token), {"password": "right-one"})
    assert locked.status_code == 429 and b"Too many wrong passwords" in locked.content


def test_public_result_page_shows_only_what_was_shared(
    client: Any, team: Any, user: Any, result: Any
) -> None:
    new = share(team, user, result=result, allow_download=True)
    response = client.get(page_url(new.token))
    page = response.content.decode()
    assert response.status_code == 200
    assert response["Referrer-Policy"] == "no-referrer"
    assert "noindex" in response["X-Robots-Tag"]
    assert '<meta name="robots" content="noindex' in page
    assert "no-store" in response["Cache-Control"]
    for secret in ("Alice's studio", "Alice&#x27;s studio", "alice", "Acme", "Log out"):
        assert secret not in page
    assert image_url(new.token, result.pk, "source") in page
    assert image_url(new.token, result.pk, "full") in page
    assert image_url(new.token, result.pk, "download") in page
    new.link.refresh_from_db()
    assert new.link.view_count == 1 and new.link.last_accessed_at is not None


def test_public_board_shows_results_without_costs_settings_or_notes(
    client: Any, team: Any, user: Any, board: Any
) -> None:
    winner = board.jobs.order_by("id").last().results.get()
    board.winner, board.winner_note = winner, "internal: client hates blur"
    board.save()
    new = share(team, user, batch=board)
    page = client.get(page_url(new.token)).content.decode()
    results = ResultImage.objects.filter(job__batch=board)
    for r in results:
        assert image_url(new.token, r.pk, "thumb") in page
    assert "★ Winner" in page and "Local (Pillow)" in page
    for secret in ("client hates blur", "$", "Scale", "alice", SOURCE_NAME):
        assert secret not in page
    focused = client.get(page_url(new.token), {"r": winner.pk}).content.decode()
    assert image_url(new.token, winner.pk, "full") in focused


def test_served_images_are_safe_to_serve(client: Any, team: Any, user: Any, result: Any) -> None:
    new = share(team, user, result=result, allow_download=True)
    inline = client.get(image_url(new.token, result.pk, "full"))
    assert inline["Content-Type"] == "image/png"
    assert inline["X-Content-Type-Options"] == "nosniff"
    assert (
        inline["Content-Disposition"] == 'inline; filename="secret-client-photo-local-128x96.png"'
    )
    download = client.get(image_url(new.token, result.pk, "download"))
    assert download["Content-Disposition"].startswith("attachment; filename=")
    assert download["Referrer-Policy"] == "no-referrer"
    with Image.open(io.BytesIO(b"".join(download))) as image:
        assert image.size == (128, 96)


@pytest.mark.parametrize(
    ("stem", "expected"),
    [
        ('photo"; filename=evil.exe', "photo-filename-evil.exe.png"),
        ("../../etc/passwd", "etc-passwd.png"),
        ("zdjęcie\r\nX-Injected: 1", "zdj-cie-X-Injected-1.png"),
        ("...", "image.png"),
    ],
)
def test_filenames_cannot_break_the_header(stem: str, expected: str) -> None:
    from jobs.views.sharing import safe_filename

    assert safe_filename(stem, "png") == expected


def test_the_password_form_is_csrf_protected_even_with_origin_null(
    team: Any, user: Any, result: Any
) -> None:
    """no-referrer makes browsers send `Origin: null`; the token is what is checked."""
    from django.test import Client

    browser = Client(enforce_csrf_checks=True)
    new = share(team, user, result=result, password="pw-right-1")
    form = browser.get(page_url(new.token))
    token = form.context["csrf_token"]
    forged = browser.post(page_url(new.token), {"password": "pw-right-1"}, HTTP_ORIGIN="null")
    assert forged.status_code == 403
    elsewhere = browser.post(
        page_url(new.token),
        {"password": "pw-right-1", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="https://evil.test",
    )
    assert elsewhere.status_code == 403
    real = browser.post(
        page_url(new.token),
        {"password": "pw-right-1", "csrfmiddlewaretoken": token},
        HTTP_ORIGIN="null",
    )
    assert real.status_code == 302
