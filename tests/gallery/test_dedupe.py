"""Don't pay twice: identical requests are recognised and offered before anything is sent."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.urls import reverse

from jobs import dedupe, services
from jobs.models import JobStatus, UpscaleJob
from tests.conftest import image_bytes
from tests.factories import local_job, source

pytestmark = pytest.mark.django_db


def test_fingerprint_ignores_key_order_and_form_spelling() -> None:
    a = dedupe.fingerprint("local", {"scale": 2, "x": "a"}, source_sha256="ab" * 32)
    b = dedupe.fingerprint("local", {"x": "a", "scale": 2}, source_sha256="ab" * 32)
    assert a == b and len(a) == 64


@pytest.mark.parametrize(
    "change",
    [
        {"provider": "aimlapi"},
        {"options": {"scale": 3}},
        {"source_sha256": "cd" * 32},
    ],
)
def test_fingerprint_changes_with_image_provider_or_options(change: dict[str, Any]) -> None:
    base = {"provider": "local", "options": {"scale": 2}, "source_sha256": "ab" * 32}
    changed = {**base, **change}
    assert dedupe.fingerprint(**base) != dedupe.fingerprint(**changed)


def test_reference_requests_are_fingerprinted_by_reference() -> None:
    one = dedupe.fingerprint("useapi", {}, reference={"jobid": "j1", "imageIndex": 0})
    two = dedupe.fingerprint("useapi", {}, reference={"jobid": "j2", "imageIndex": 0})
    assert one != two


def test_jobs_get_the_fingerprint_of_their_cleaned_request(team: Any, user: Any) -> None:
    job = local_job(team, user, scale=3)
    expected = dedupe.fingerprint("local", {"scale": 3}, source_sha256=job.source.sha256)
    assert job.fingerprint == expected
    # The same image uploaded again (a new row, same bytes) with "3" from a form matches.
    again = services.JobSpec(provider="local", options={"scale": "3"}, source=source(team, user))
    assert dedupe.spec_fingerprint(again) == expected


def test_only_succeeded_jobs_of_the_same_team_count(
    team: Any, user: Any, other_team: Any, other_user: Any
) -> None:
    queued = local_job(team, user)
    foreign = local_job(other_team, other_user, run=True)
    assert dedupe.find_identical(team, [queued.fingerprint, foreign.fingerprint]) == {}
    done = local_job(team, user, run=True)
    found = dedupe.find_identical(team, [done.fingerprint])
    prior = found[done.fingerprint]
    assert prior.job == done and prior.who == "alice"
    assert prior.result == done.results.get()
    assert prior.when == done.finished_at


def test_check_splits_done_from_new_work(team: Any, user: Any) -> None:
    done = local_job(team, user, run=True)
    same = services.JobSpec(provider="local", options={"scale": 2}, source=done.source)
    new = services.JobSpec(provider="local", options={"scale": 4}, source=done.source)
    asked = dedupe.check(team, [same, new])
    assert asked.needs_confirmation and asked.to_submit == [new]
    assert [p.job for p in asked.reused] == [done]
    assert not dedupe.check(team, [same, new], dedupe.REUSE).needs_confirmation
    assert dedupe.check(team, [same, new], dedupe.AGAIN).to_submit == [same, new]


def post_upload(client: Any, source_id: int, **extra: str) -> Any:
    data = {"provider": "local", "opt_scale": "2", "source_ids": [source_id], **extra}
    return client.post(reverse("jobs:upload"), data)


def test_upload_page_offers_the_existing_result_with_who_when_and_cost(
    alice: Any, team: Any, user: Any
) -> None:
    done = local_job(team, user, run=True)
    response = post_upload(alice, done.source_id)
    assert response.status_code == 409
    page = response.content.decode()
    assert "already upscaled by your team" in page
    assert "alice" in page and "$0.00" in page
    assert reverse("jobs:result_thumb", args=[done.results.get().pk]) in page
    assert 'value="reuse"' in page and 'value="again"' in page
    assert UpscaleJob.objects.count() == 1


def test_choosing_reuse_sends_nothing_and_opens_the_result(
    alice: Any, team: Any, user: Any
) -> None:
    done = local_job(team, user, run=True)
    response = post_upload(alice, done.source_id, duplicates="reuse")
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:result_detail", args=[done.results.get().pk])
    assert UpscaleJob.objects.count() == 1


def test_reuse_still_upscales_the_images_that_are_new(alice: Any, team: Any, user: Any) -> None:
    done = local_job(team, user, run=True)
    fresh = source(team, user, size=(30, 20), name="fresh.png")
    data = {
        "provider": "local",
        "opt_scale": "2",
        "source_ids": [done.source_id, fresh.pk],
        "duplicates": "reuse",
    }
    response = alice.post(reverse("jobs:upload"), data)
    assert response.status_code == 302
    new_jobs = UpscaleJob.objects.exclude(pk=done.pk)
    assert [j.source_id for j in new_jobs] == [fresh.pk]


def test_choosing_again_pays_again(alice: Any, team: Any, user: Any) -> None:
    done = local_job(team, user, run=True)
    response = post_upload(alice, done.source_id, duplicates="again")
    assert response.status_code == 302
    assert UpscaleJob.objects.filter(status=JobStatus.QUEUED).count() == 1


def test_an_image_posted_with_the_form_is_carried_into_the_confirmation(
    alice: Any, team: Any, user: Any
) -> None:
    done = local_job(team, user, run=True)
    upload = io.BytesIO(image_bytes("PNG", (64, 48)))
    upload.name = "same-bytes.png"
    response = alice.post(
        reverse("jobs:upload"), {"provider": "local", "opt_scale": "2", "files": upload}
    )
    assert response.status_code == 409
    stored = team.sources.exclude(pk=done.source_id).get()
    assert f'name="source_ids" value="{stored.pk}"' in response.content.decode()


def test_different_settings_are_not_a_duplicate(alice: Any, team: Any, user: Any) -> None:
    done = local_job(team, user, run=True)
    response = alice.post(
        reverse("jobs:upload"),
        {"provider": "local", "opt_scale": "4", "source_ids": [done.source_id]},
    )
    assert response.status_code == 302
    assert UpscaleJob.objects.count() == 2
