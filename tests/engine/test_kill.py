"""kill -9 of a real worker (django-q2 cluster + ticker) mid-job, at four points.

Each test widens one window with a sandbox knob (or a stalled source file), SIGKILLs the
worker's whole process group inside it, starts a fresh worker and checks that the job
ends correctly, that the fake provider saw at most one create for it, and that at most
one charge was recorded. Leases are 3 s here, so a dead worker's job is recovered fast.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from jobs.models import JobStatus, UpscaleJob
from sandbox import knobs
from tests.conftest import wait_until
from tests.engine.conftest import (
    TERMINAL,
    charges,
    creates,
    events,
    held,
    submit,
    useapi_reference,
)
from tests.factories import source

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.worker,
    pytest.mark.usefixtures("sandbox"),
]

LEASE_SECONDS = "3"


@pytest.fixture
def start(start_worker: Callable[..., Any]) -> Callable[[], Any]:
    return lambda: start_worker(JOB_LEASE_SECONDS=LEASE_SECONDS)


def fresh(job: UpscaleJob) -> UpscaleJob:
    return UpscaleJob.objects.get(pk=job.pk)


def wait_for(job: UpscaleJob, what: Callable[[UpscaleJob], Any], worker: Any, timeout=40) -> None:
    try:
        wait_until(lambda: what(fresh(job)), timeout=timeout, every=0.05)
    except AssertionError:
        job = fresh(job)
        pytest.fail(f"Job {job.status}: {events(job)}\nWorker log:\n{worker.log()}")


def finished(job: UpscaleJob) -> bool:
    return job.status in TERMINAL


def restart_and_finish(job: UpscaleJob, start: Callable[[], Any]) -> UpscaleJob:
    worker = start()
    wait_for(job, finished, worker)
    return fresh(job)


def test_kill_before_the_create(team, user, start):
    """The worker dies after claiming the job, before anything reached the provider."""
    stalled = source(team, user)
    path = Path(stalled.file.path)
    data = path.read_bytes()
    # A FIFO in place of the upload: the worker blocks reading it, inside the claim but
    # before the create is sent (a slow disk, at a point no sandbox knob can reach).
    path.unlink()
    os.mkfifo(path)
    try:
        job = submit(team, user, "aimlapi", source=stalled)
        worker = start()
        wait_for(
            job, lambda j: j.status == JobStatus.RUNNING and j.events.filter(kind="sending"), worker
        )
        worker.kill()
    finally:
        path.unlink()
        path.write_bytes(data)
    assert fresh(job).create_sent_at is None and creates(job) == 0

    job = restart_and_finish(job, start)

    assert job.status == JobStatus.SUCCEEDED, events(job)
    assert job.attempts == 2 and job.results.count() == 1
    assert creates(job) == 1 and charges(job) == 1
    assert any(line.startswith("recovered") for line in events(job))


def test_kill_while_the_create_is_in_flight(team, user, start):
    """The create reached the provider, the worker died before the answer: never resent."""
    knobs.set_knobs("aimlapi", latency_seconds=3)
    job = submit(team, user, "aimlapi")
    worker = start()
    wait_for(job, lambda j: j.create_sent_at, worker)
    time.sleep(0.5)  # let the request reach the fake, which then sleeps on its latency
    worker.kill()
    knobs.set_knobs("aimlapi", latency_seconds=0)
    assert fresh(job).status == JobStatus.RUNNING
    wait_until(lambda: creates(job) == 1, timeout=10)  # the fake did get it (and charges)

    job = restart_and_finish(job, start)

    assert job.status == JobStatus.UNKNOWN, events(job)
    assert "not sent again, to avoid paying twice" in job.error_message
    assert "press Retry" in job.error_message and str(job.public_id) in job.error_message
    assert job.attempts == 1 and creates(job) == 1
    assert charges(job) == 0 and held(job) == {"reserve"}  # held until someone checks


def test_kill_while_polling(team, user, start):
    """The provider accepted the job; the worker dies in the middle of a status poll."""
    reference = useapi_reference(team)
    knobs.set_knobs("useapi", async_seconds=4)
    job = submit(team, user, "useapi", reference=reference, options={"upscaleResolution": "2k"})
    worker = start()
    wait_for(job, lambda j: j.status == JobStatus.WAITING, worker)
    knobs.set_knobs("useapi", latency_seconds=4)
    wait_for(job, lambda j: j.polls >= 1 and j.lease_token, worker)
    worker.kill()
    knobs.set_knobs("useapi", latency_seconds=0)
    assert fresh(job).status == JobStatus.WAITING and fresh(job).lease_token  # mid-poll

    job = restart_and_finish(job, start)

    assert job.status == JobStatus.SUCCEEDED, events(job)
    assert job.results.get().width == 2048
    assert job.attempts == 1 and creates(job) == 1 and charges(job) == 1
    assert any(line.startswith("recovered") for line in events(job))


def test_kill_while_downloading(team, user, start):
    """The provider finished and charged; the worker dies halfway through the download."""
    knobs.set_knobs("aimlapi", slow_drip_bytes_per_second=40_000)
    job = submit(team, user, "aimlapi", options={"resolution": "2k"})
    worker = start()
    wait_for(job, lambda j: j.status == JobStatus.DOWNLOADING, worker)
    time.sleep(0.3)  # some bytes are in, most are not
    worker.kill()
    knobs.set_knobs("aimlapi", slow_drip_bytes_per_second=0)
    assert fresh(job).status == JobStatus.DOWNLOADING and not job.results.exists()

    job = restart_and_finish(job, start)

    assert job.status == JobStatus.SUCCEEDED, events(job)
    assert job.results.count() == 1
    assert job.attempts == 1 and creates(job) == 1 and charges(job) == 1
    assert held(job) == {"reserve", "capture", "release"}
    assert any(line.startswith("recovered") for line in events(job))
