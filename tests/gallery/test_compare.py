"""Compare across providers: submission, the live board, and the winner with a note."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from jobs import comparisons, engine, services
from jobs.models import Batch, JobStatus, UpscaleJob
from tests.factories import source

pytestmark = pytest.mark.django_db


def comparison(team: Any, user: Any, scales: tuple[int, ...] = (2, 3), run: bool = True) -> Batch:
    """A comparison of `local` at several scales (the one provider that needs no network)."""
    image = source(team, user, name="cat.png")
    specs = [services.JobSpec(provider="local", options={"scale": s}, source=image) for s in scales]
    jobs = services.submit_jobs(team, user, specs, comparison=True)
    if run:
        for job in jobs:
            engine.process_job(job.pk)
    return jobs[0].batch


def test_compare_page_builds_each_providers_options_under_its_prefix(alice: Any) -> None:
    page = alice.get(reverse("jobs:compare")).content.decode()
    assert 'name="local-scale"' in page
    assert 'name="aimlapi-resolution"' in page
    assert 'name="ideogram-prompt"' in page
    # Reference-only providers cannot take an uploaded image, and the page says why.
    assert 'value="useapi"' not in page and "only upscale images they generated" in page


def test_compare_page_can_start_from_an_existing_image(alice: Any, team: Any, user: Any) -> None:
    image = source(team, user, name="dog.png")
    page = alice.get(reverse("jobs:compare"), {"source": image.pk}).content.decode()
    assert f'name="source_ids" value="{image.pk}"' in page and "dog.png" in page


def test_submitting_creates_one_comparison_batch_with_a_job_per_provider(
    alice: Any, team: Any, user: Any
) -> None:
    services.ensure_sandbox_accounts(team)
    image = source(team, user)
    response = alice.post(
        reverse("jobs:compare"),
        {
            "source_ids": [image.pk],
            "providers": ["local", "aimlapi"],
            "local-scale": "4",
            "aimlapi-resolution": "4k",
            "ideogram-detail": "999",  # not ticked: its options are ignored
        },
    )
    batch = Batch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:compare_board", args=[batch.pk])
    assert batch.is_comparison
    jobs = {job.provider: job.options for job in batch.jobs.all()}
    assert jobs["local"] == {"scale": 4}
    assert jobs["aimlapi"]["resolution"] == "4k"


def test_a_comparison_needs_two_providers_and_an_image(alice: Any, team: Any, user: Any) -> None:
    response = alice.post(reverse("jobs:compare"), {"providers": ["local"]})
    page = response.content.decode()
    assert response.status_code == 400
    assert "at least two providers" in page and "at least one image" in page
    assert not UpscaleJob.objects.exists()


def test_bad_options_are_shown_on_that_providers_field(alice: Any, team: Any, user: Any) -> None:
    services.ensure_sandbox_accounts(team)
    image = source(team, user)
    response = alice.post(
        reverse("jobs:compare"),
        {"source_ids": [image.pk], "providers": ["local", "ideogram"], "ideogram-detail": "999"},
    )
    assert response.status_code == 400
    assert "must be between 1 and 100" in response.content.decode()
    assert not UpscaleJob.objects.exists()


def test_a_provider_without_an_account_is_refused_in_plain_words(
    alice: Any, team: Any, user: Any
) -> None:
    image = source(team, user)
    response = alice.post(
        reverse("jobs:compare"), {"source_ids": [image.pk], "providers": ["local", "aimlapi"]}
    )
    assert response.status_code == 400
    assert "Your team has no AI/ML API account yet" in response.content.decode()


def test_board_shows_results_side_by_side_with_cost_time_and_size(
    alice: Any, team: Any, user: Any
) -> None:
    batch = comparison(team, user)
    response = alice.get(reverse("jobs:compare_board", args=[batch.pk]))
    page = response.content.decode()
    assert page.count('class="board-card" data-provider="local"') == 2
    assert "128×96" in page and "192×144" in page
    assert page.count("$0.00") >= 2 and " s</dd>" in page
    assert 'hx-trigger="every 2s"' not in page  # all finished: nothing polls


def test_board_polls_while_jobs_run_and_stops_with_286(alice: Any, team: Any, user: Any) -> None:
    batch = comparison(team, user, run=False)
    url = reverse("jobs:compare_board", args=[batch.pk])
    assert 'hx-trigger="every 2s"' in alice.get(url).content.decode()
    live = alice.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="board-live")
    assert live.status_code == 200 and b"Working" in live.content
    for job in batch.jobs.all():
        engine.process_job(job.pk)
    done = alice.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="board-live")
    assert done.status_code == 286 and b"Pick" in done.content


def test_picking_a_winner_with_a_note(alice: Any, team: Any, user: Any) -> None:
    batch = comparison(team, user)
    winner = batch.jobs.get(options={"scale": 3}).results.get()
    url = reverse("jobs:compare_verdict", args=[batch.pk])
    alice.post(url, {"winner": winner.pk, "note": "Sharper fur."})
    batch.refresh_from_db()
    assert (batch.winner, batch.winner_note, batch.winner_chosen_by) == (
        winner,
        "Sharper fur.",
        user,
    )
    page = alice.get(reverse("jobs:compare_board", args=[batch.pk])).content.decode()
    assert "★ Winner" in page and "Sharper fur." in page
    alice.post(url, {"note": "Sharper fur, fewer artefacts."})  # saving the note keeps the pick
    batch.refresh_from_db()
    assert batch.winner == winner and batch.winner_note.endswith("artefacts.")
    alice.post(url, {"winner": "", "note": ""})
    batch.refresh_from_db()
    assert batch.winner is None and batch.winner_chosen_by is None


def test_a_result_from_elsewhere_cannot_win(
    alice: Any, team: Any, user: Any, other_team: Any, other_user: Any
) -> None:
    batch = comparison(team, user)
    elsewhere = comparison(team, user).jobs.first().results.get()
    foreign = comparison(other_team, other_user).jobs.first().results.get()
    url = reverse("jobs:compare_verdict", args=[batch.pk])
    assert alice.post(url, {"winner": foreign.pk}).status_code == 404
    alice.post(url, {"winner": elsewhere.pk})
    batch.refresh_from_db()
    assert batch.winner is None
    with pytest.raises(comparisons.VerdictError):
        comparisons.set_verdict(batch, user, winner=elsewhere, note="")


def test_other_teams_boards_are_404(
    alice: Any, team: Any, other_team: Any, other_user: Any
) -> None:
    foreign = comparison(other_team, other_user)
    for url in (
        reverse("jobs:compare_board", args=[foreign.pk]),
        reverse("jobs:compare_verdict", args=[foreign.pk]),
    ):
        assert alice.get(url).status_code in (404, 405)
        assert alice.post(url, {"note": "x"}).status_code == 404


def test_a_plain_upload_batch_is_not_a_board(alice: Any, team: Any, user: Any) -> None:
    image = source(team, user)
    job = services.submit_jobs(team, user, [services.JobSpec("local", {}, source=image)])[0]
    assert alice.get(reverse("jobs:compare_board", args=[job.batch_id])).status_code == 404


def test_board_costs_are_what_the_ledger_says(team: Any, user: Any) -> None:
    batch = comparison(team, user)
    board = comparisons.build_board(batch)
    assert len(board.rows) == 1 and len(board.rows[0].entries) == 2
    assert board.all_finished and board.total_micros == 0
    assert all(e.job.status == JobStatus.SUCCEEDED for e in board.rows[0].entries)
