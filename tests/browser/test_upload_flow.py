"""A person logs in, uploads two images, watches them finish live, and downloads a result."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.browser.conftest import log_in
from tests.conftest import image_bytes

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_upload_two_images_watch_them_finish_and_download(
    page: Any, user: Any, team: Any, worker: Any, tmp_path: Path
) -> None:
    first, second = tmp_path / "harbour.png", tmp_path / "field.jpg"
    first.write_bytes(image_bytes("PNG", (80, 60)))
    second.write_bytes(image_bytes("JPEG", (50, 40)))

    log_in(page, "alice", "pw-alice-123")
    page.set_input_files("#file-input", [str(first), str(second)])
    page.wait_for_selector("#file-list li.ok >> nth=1")
    assert page.locator("#file-list li.failed").count() == 0
    page.select_option("select[name=opt_scale]", "3")
    page.click("#submit-button")
    page.wait_for_url("**/jobs/?batch=*")

    # A marker on window survives only if the page is never reloaded.
    page.evaluate("window.__noReload = true")
    rows = page.locator("tr[data-status]")
    assert rows.count() == 2
    page.wait_for_function(
        "[...document.querySelectorAll('tr[data-status]')]"
        ".every(r => r.dataset.status === 'succeeded')",
        timeout=60_000,
    )
    assert page.evaluate("window.__noReload") is True

    page.click("nav >> text=Gallery")
    page.wait_for_selector(".tile img")
    assert page.locator(".tile").count() == 2
    tile = page.locator(".tile", has_text="harbour.png")
    with page.expect_download() as download_info:
        tile.locator("a.download").click()
    download = download_info.value
    assert download.suggested_filename == "harbour-local-240x180.png"
    with Image.open(io.BytesIO(Path(download.path()).read_bytes())) as result:
        assert result.size == (80 * 3, 60 * 3)


def test_a_bad_file_is_refused_in_the_page(page: Any, user: Any, team: Any, tmp_path: Path) -> None:
    bad = tmp_path / "notes.png"
    bad.write_text("not really an image")
    log_in(page, "alice", "pw-alice-123")
    page.set_input_files("#file-input", [str(bad)])
    failed = page.wait_for_selector("#file-list li.failed")
    assert "not an image we can read" in failed.inner_text()
