"""services.cancel_job: queued jobs locally, waiting jobs at the provider, never mid-send."""

from __future__ import annotations

from typing import Any

import pytest

from jobs import engine, services
from jobs.models import JobStatus, LedgerEntry, UpscaleJob
from tests.factories import local_job

pytestmark = pytest.mark.django_db


class FakeAdapter:
    def __init__(self, answer: bool | Exception) -> None:
        self.answer = answer
        self.asked: list[str] = []

    def cancel(self, provider_job_id: str) -> bool:
        self.asked.append(provider_job_id)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
def waiting_job(team: Any, user: Any) -> UpscaleJob:
    job = local_job(team, user)
    UpscaleJob.objects.filter(pk=job.pk).update(status=JobStatus.WAITING, provider_job_id="prov-42")
    job.refresh_from_db()
    return job


def use_adapter(monkeypatch: Any, adapter: FakeAdapter) -> None:
    monkeypatch.setattr(engine, "provider_for", lambda job: adapter)


def test_waiting_job_is_canceled_at_the_provider(
    waiting_job: UpscaleJob, user: Any, monkeypatch: Any
) -> None:
    adapter = FakeAdapter(True)
    use_adapter(monkeypatch, adapter)
    job = services.cancel_job(waiting_job, user)
    assert adapter.asked == ["prov-42"]
    assert job.status == JobStatus.CANCELED and job.finished_at is not None
    assert job.lease_token == "" and job.next_action_at is None
    assert LedgerEntry.objects.filter(job=job, kind="release").count() == 1
    assert "Canceled at" in job.events.last().message


@pytest.mark.parametrize("answer", [False, RuntimeError("provider down")])
def test_provider_that_cannot_cancel_leaves_the_job_waiting(
    waiting_job: UpscaleJob, user: Any, monkeypatch: Any, answer: Any
) -> None:
    use_adapter(monkeypatch, FakeAdapter(answer))
    with pytest.raises(services.CancelError, match="charged as usual"):
        services.cancel_job(waiting_job, user)
    waiting_job.refresh_from_db()
    assert waiting_job.status == JobStatus.WAITING
    assert waiting_job.lease_token == ""  # the poller can take it again
    assert not LedgerEntry.objects.filter(job=waiting_job, kind="release").exists()


def test_a_job_held_by_a_worker_is_not_touched(waiting_job: UpscaleJob, user: Any) -> None:
    assert engine.claim(waiting_job.pk, JobStatus.WAITING) is not None
    with pytest.raises(services.CancelError, match="try again"):
        services.cancel_job(waiting_job, user)


@pytest.mark.parametrize("status", [JobStatus.RUNNING, JobStatus.DOWNLOADING])
def test_jobs_being_sent_or_downloaded_are_refused(team: Any, user: Any, status: str) -> None:
    job = local_job(team, user)
    UpscaleJob.objects.filter(pk=job.pk).update(status=status)
    job.refresh_from_db()
    with pytest.raises(services.CancelError, match="cannot be stopped safely"):
        services.cancel_job(job, user)


def test_finished_job_is_refused(team: Any, user: Any) -> None:
    job = local_job(team, user, run=True)
    with pytest.raises(services.CancelError, match="already finished"):
        services.cancel_job(job, user)
