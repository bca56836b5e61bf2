"""In Chromium: the upload form's cost follows the files and options, and the dashboard
chart links to the jobs behind a bar."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from jobs import services
from tests.browser.conftest import log_in
from tests.conftest import image_bytes
from tests.spend.helpers import Scripts, budget, run_to_end, scripted, submit

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_live_estimate_follows_files_and_options(
    page: Any, user: Any, team: Any, tmp_path: Path
) -> None:
    services.ensure_sandbox_accounts(team)
    budget(team, "0.30")
    files = [tmp_path / f"photo-{n}.png" for n in range(2)]
    for path in files:
        path.write_bytes(image_bytes("PNG", (40, 30)))
    log_in(page, "alice", "pw-alice-123")
    total = page.locator("[data-testid=estimate-total]")
    total.wait_for()
    assert total.inner_text() == "$0.00"  # the free local provider, no images yet

    page.set_input_files("#file-input", [str(path) for path in files])
    page.wait_for_selector("#file-list li.ok >> nth=1")
    page.select_option("#id_provider", "ideogram")
    page.wait_for_selector("input[name=opt_num_images]")
    page.wait_for_function(
        "document.querySelector('[data-testid=estimate-total]').innerText === '$0.12'"
    )
    page.fill("input[name=opt_num_images]", "3")
    page.dispatch_event("input[name=opt_num_images]", "change")
    page.wait_for_function(
        "document.querySelector('[data-testid=estimate-total]').innerText === '$0.36'"
    )
    estimate = page.locator("[data-testid=estimate]").inner_text()
    assert "Team budget" in estimate and "would be refused" in estimate


def test_dashboard_bar_opens_the_jobs_behind_it(page: Any, user: Any, team: Any) -> None:
    services.ensure_sandbox_accounts(team)
    with scripted(Scripts()):
        jobs = [run_to_end(job) for job in submit(team, user, "ideogram", count=2)]
    log_in(page, "alice", "pw-alice-123")
    page.click("nav >> text=Spend")
    page.wait_for_selector("svg.chart rect")
    page.click("svg.chart a >> nth=0")
    page.wait_for_url("**/jobs/?from=*provider=ideogram*")
    for job in jobs:
        assert page.locator(f"#job-{job.public_id}").count() == 1
