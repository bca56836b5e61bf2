"""In Chromium: compare one image across three sandbox providers and pick a winner; share a
result behind a password, open the link logged out, inspect it, download it, revoke it and
watch it die."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from jobs import services
from jobs.models import Batch
from tests.browser.conftest import log_in
from tests.conftest import image_bytes
from tests.factories import local_job

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PROVIDERS = ("local", "aimlapi", "ideogram")


@pytest.mark.worker
def test_compare_one_image_across_three_providers_and_pick_a_winner(
    page: Any, user: Any, team: Any, worker: Any, tmp_path: Path
) -> None:
    services.ensure_sandbox_accounts(team)
    picture = tmp_path / "lighthouse.png"
    picture.write_bytes(image_bytes("PNG", (64, 48)))

    log_in(page, "alice", "pw-alice-123")
    page.click("nav >> text=Compare")
    page.wait_for_url("**/compare/")  # waits for "load": the upload script is listening
    page.set_input_files("#file-input", [str(picture)])
    page.wait_for_selector("#file-list li.ok")
    for slug in PROVIDERS:
        page.check(f"input[name=providers][value={slug}]")
    page.select_option("select[name=local-scale]", "3")
    page.fill("input[name=ideogram-detail]", "70")
    page.click("#submit-button")
    page.wait_for_url(re.compile(r".*/compare/\d+/$"))

    # The board fills in live, without a reload, and stops polling when all are done.
    page.evaluate("window.__noReload = true")
    page.wait_for_selector("#board-live[data-finished='1']", timeout=90_000)
    assert page.evaluate("window.__noReload") is True, worker.log()
    for slug in PROVIDERS:
        card = page.locator(f".board-card[data-provider={slug}]")
        assert card.get_attribute("data-status") == "succeeded", worker.log()
        assert re.search(r"\$\d", card.locator(".cost").inner_text())
        assert card.locator(".took").inner_text().endswith(" s")
        assert "×" in card.locator(".output").inner_text()
    assert "192×144" in page.locator(".board-card[data-provider=local] .output").inner_text()

    page.fill("textarea[name=note]", "Ideogram kept the brickwork crisp.")
    page.locator(".board-card[data-provider=ideogram] button.pick").click()
    page.wait_for_selector(".board-card.winner[data-provider=ideogram]")
    assert "Ideogram kept the brickwork crisp." in page.input_value("textarea[name=note]")
    assert "picked by alice" in page.locator(".winner-line").inner_text()
    batch = Batch.objects.get(is_comparison=True)
    assert batch.winner.job.provider == "ideogram" and batch.winner_chosen_by == user


def test_share_a_result_open_it_logged_out_download_then_revoke(
    page: Any, browser: Any, live_server: Any, user: Any, team: Any
) -> None:
    job = local_job(team, user, run=True, scale=4, name="harbour.png", size=(80, 60))
    result = job.results.get()

    log_in(page, "alice", "pw-alice-123")
    page.goto(f"/gallery/{result.pk}/")
    page.fill("input[name=label]", "for the client")
    page.fill("input[name=password]", "harbour-2024")
    page.check("input[name=allow_download]")
    page.click("text=Create share link")
    share_url = page.input_value("#share-url")
    assert "/shared/" in share_url

    stranger = browser.new_context(accept_downloads=True)
    try:
        outside = stranger.new_page()
        locked = outside.goto(share_url)
        assert locked.status == 401
        assert locked.headers["referrer-policy"] == "no-referrer"
        outside.fill("input[name=password]", "harbour-2024")
        with outside.expect_navigation() as opened:
            outside.click("button[type=submit]")
        assert opened.value.status == 200
        assert outside.locator("[data-compare]").count() == 1
        body = outside.content()
        assert "alice" not in body and "Alice" not in body and "harbour.png" not in body

        # Inspect at 100 %: both panes show the result at its real size; at 400 % (so this
        # small image overflows its pane) they pan together.
        outside.click("button[data-mode=zoom]")
        panes = outside.locator(".zoom-pane")
        width = "img => img.getBoundingClientRect().width"
        assert panes.nth(0).locator("img").evaluate(width) == 320
        assert panes.nth(1).locator("img").evaluate(width) == 320
        outside.select_option("select[data-zoom-level]", "4")
        assert panes.nth(1).locator("img").evaluate(width) == 1280
        panes.nth(1).hover()
        panes.nth(1).evaluate("pane => { pane.scrollLeft = 40; pane.scrollTop = 30; }")
        outside.wait_for_function("document.querySelectorAll('.zoom-pane')[0].scrollLeft === 40")

        with outside.expect_download() as info:
            outside.click("a[data-download]")
        download = info.value
        assert download.suggested_filename == "harbour-local-320x240.png"
        with Image.open(io.BytesIO(Path(download.path()).read_bytes())) as image:
            assert image.size == (320, 240)

        # Revoke it from the team's list; the stranger's next visit finds nothing.
        page.click("nav >> text=Share links")
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("tr[data-state=active] button", has_text="Revoke").click()
        page.wait_for_selector("tr[data-state=revoked]")
        dead = outside.goto(share_url)
        assert dead.status == 404
        assert "This link does not work" in outside.content()
        image_url = share_url + f"{result.pk}/full"
        assert outside.goto(image_url).status == 404
    finally:
        stranger.close()
