"""Two worker processes share the queue; one is killed mid-run; every job still ends once.

On PostgreSQL + Redis (CI's second run) this is the multi-node setup: Redis has no delivery
receipts, so the ticker and the reconciler are what bring the dead worker's jobs back.
"""

from __future__ import annotations

from typing import Any

import pytest

from jobs import services
from jobs.models import JobStatus, LedgerEntry, UpscaleJob
from sandbox import knobs, log
from tests.conftest import wait_until
from tests.providers.test_end_to_end import provider_side_reference

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]
JOBS = 8


def statuses(jobs: list[UpscaleJob]) -> list[str]:
    ids = [job.pk for job in jobs]
    return list(UpscaleJob.objects.filter(pk__in=ids).values_list("status", flat=True))


def test_a_killed_worker_loses_no_job_and_pays_nothing_twice(
    team: Any, user: Any, start_worker: Any
) -> None:
    services.ensure_sandbox_accounts(team)
    knobs.set_knobs("useapi", async_seconds=4)
    reference = provider_side_reference(team, "useapi")
    specs = [
        services.JobSpec(
            provider="useapi", options={"upscaleResolution": "2k"}, reference=reference
        )
        for _ in range(JOBS)
    ]
    jobs = services.submit_jobs(team, user, specs)
    doomed, survivor = start_worker(), start_worker()

    # Kill one node while every job is in flight at the provider and being polled. (A kill
    # in the middle of a create is tests/engine's business: that job is flagged, not re-sent.)
    at_provider = {JobStatus.WAITING, JobStatus.DOWNLOADING, JobStatus.SUCCEEDED}
    wait_until(lambda: set(statuses(jobs)) <= at_provider, timeout=30)
    doomed.kill()
    try:
        wait_until(lambda: all(s in {"succeeded", "failed", "unknown"} for s in statuses(jobs)), 90)
    except AssertionError:
        pytest.fail(f"Jobs stuck: {statuses(jobs)}\n{survivor.log()}")

    assert statuses(jobs) == [JobStatus.SUCCEEDED] * JOBS
    for job in jobs:
        assert job.results.count() == 1
        creates = log.creates("useapi", client_ref=str(job.public_id), accepted_only=True).count()
        assert creates == 1, f"job {job.pk} was created {creates} times at the provider"
        assert LedgerEntry.objects.filter(job=job, kind="capture").count() <= 1
