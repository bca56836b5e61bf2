"""The real worker process (django-q2 cluster + ticker) runs jobs from the queue."""

from __future__ import annotations

from typing import Any

import pytest

from jobs.models import JobStatus, UpscaleJob
from tests.conftest import wait_until
from tests.factories import local_job

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


def all_finished(jobs: list[UpscaleJob]) -> bool:
    statuses = set(
        UpscaleJob.objects.filter(pk__in=[j.pk for j in jobs]).values_list("status", flat=True)
    )
    return statuses <= {JobStatus.SUCCEEDED, JobStatus.FAILED}


def test_worker_runs_queued_jobs(team: Any, user: Any, worker: Any) -> None:
    jobs = [local_job(team, user, scale=2), local_job(team, user, scale=3)]
    try:
        wait_until(lambda: all_finished(jobs), timeout=60)
    except AssertionError:
        pytest.fail("Jobs did not finish. Worker log:\n" + worker.log())
    for job, scale in zip(jobs, (2, 3), strict=True):
        job.refresh_from_db()
        assert job.status == JobStatus.SUCCEEDED, job.error_message
        result = job.results.get()
        assert (result.width, result.height) == (64 * scale, 48 * scale)


def test_lost_delivery_is_redriven_by_the_ticker(
    team: Any, user: Any, monkeypatch: Any, start_worker: Any
) -> None:
    """A job whose queue message never arrives (Redis has no receipts) still runs."""
    from jobs import engine

    monkeypatch.setattr(engine, "enqueue", lambda job_id: None)  # the message is lost
    job = local_job(team, user)
    UpscaleJob.objects.filter(pk=job.pk).update(next_action_at=job.created_at)
    worker = start_worker()
    try:
        wait_until(lambda: all_finished([job]), timeout=60)
    except AssertionError:
        job.refresh_from_db()
        events = list(job.events.values_list("message", flat=True))
        pytest.fail(f"Job not re-driven: {job.status} {events}. Worker log:\n{worker.log()}")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
