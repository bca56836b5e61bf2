"""The pipeline end to end with the free `local` provider, driven inline (no worker)."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from jobs import engine
from jobs.models import JobStatus, LedgerEntry, UpscaleJob
from tests.factories import local_job

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_local_job_upscales_by_the_chosen_factor(team: Any, user: Any, scale: int) -> None:
    job = local_job(team, user, scale=scale, run=True, size=(50, 30))
    assert job.status == JobStatus.SUCCEEDED
    result = job.results.get()
    assert (result.width, result.height) == (50 * scale, 30 * scale)
    with result.file.open("rb") as fh, Image.open(fh) as image:
        assert image.size == (50 * scale, 30 * scale)
    assert result.thumbnail
    assert job.attempts == 1
    kinds = list(job.events.values_list("kind", flat=True))
    assert kinds == ["queued", "sending", "finished", "succeeded"]


def test_jpeg_stays_jpeg(team: Any, user: Any) -> None:
    job = local_job(team, user, run=True, fmt="JPEG", name="p.jpg")
    assert job.results.get().format == "JPEG"


def test_ledger_reserves_then_settles(team: Any, user: Any) -> None:
    job = local_job(team, user, run=True)
    kinds = set(LedgerEntry.objects.filter(job=job).values_list("kind", flat=True))
    assert kinds == {"reserve", "capture", "release"}


def test_processing_twice_is_a_no_op(team: Any, user: Any) -> None:
    job = local_job(team, user, run=True)
    engine.process_job(job.pk)  # a duplicate delivery of the same task
    job.refresh_from_db()
    assert job.attempts == 1 and job.results.count() == 1


def test_claim_is_exclusive(team: Any, user: Any) -> None:
    job = local_job(team, user)
    first = engine.claim(job.pk, JobStatus.QUEUED, status=JobStatus.RUNNING)
    second = engine.claim(job.pk, JobStatus.QUEUED, status=JobStatus.RUNNING)
    assert first is not None and second is None


def test_crash_before_sending_is_requeued(team: Any, user: Any) -> None:
    job = local_job(team, user)
    UpscaleJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING, lease_token="dead", lease_until=timezone.now() - timedelta(1)
    )
    assert engine.reconcile() == 1
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED
    engine.process_job(job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED


def test_crash_after_sending_is_never_resent(team: Any, user: Any) -> None:
    job = local_job(team, user)
    UpscaleJob.objects.filter(pk=job.pk).update(
        status=JobStatus.RUNNING,
        attempts=1,
        create_sent_at=timezone.now(),
        lease_token="dead",
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    engine.reconcile()
    job.refresh_from_db()
    assert job.status == JobStatus.UNKNOWN
    assert "not sent again" in job.error_message
    engine.process_job(job.pk)
    job.refresh_from_db()
    assert job.attempts == 1


def test_wake_due_jobs_enqueues_once(team: Any, user: Any, monkeypatch: Any) -> None:
    job = local_job(team, user)
    UpscaleJob.objects.filter(pk=job.pk).update(next_action_at=timezone.now())
    sent: list[int] = []
    monkeypatch.setattr(engine, "enqueue", sent.append)
    assert engine.wake_due_jobs() == 1
    assert engine.wake_due_jobs() == 0
    assert sent == [job.pk]


def test_job_pages_render(alice: Any, team: Any, user: Any) -> None:
    job = local_job(team, user, run=True, name="cat.png")
    detail = alice.get(reverse("jobs:job_detail", args=[job.public_id])).content.decode()
    assert "cat.png" in detail and "Succeeded" in detail and "Timeline" in detail
    result = job.results.get()
    download = alice.get(reverse("jobs:result_file", args=[result.pk]) + "?download=1")
    assert download["Content-Disposition"].startswith("attachment;")
    assert 'filename="cat-local-128x96.png"' in download["Content-Disposition"]
    assert download["X-Content-Type-Options"] == "nosniff"
    body = b"".join(download.streaming_content)
    assert Image.open(io.BytesIO(body)).size == (128, 96)


def test_live_row_stops_polling_when_finished(alice: Any, team: Any, user: Any) -> None:
    job = local_job(team, user)
    url = reverse("jobs:job_row", args=[job.public_id])
    running = alice.get(url, HTTP_HX_REQUEST="true")
    assert running.status_code == 200 and b'hx-trigger="every 1s"' in running.content
    engine.process_job(job.pk)
    done = alice.get(url, HTTP_HX_REQUEST="true")
    assert done.status_code == 286 and b"hx-trigger" not in done.content
