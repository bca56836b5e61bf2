"""Who gets to work on what: per-account limits, webhook hints, leases and recovery."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connections
from django.urls import reverse
from django.utils import timezone

from jobs import engine
from jobs.models import JobStatus, UpscaleJob
from sandbox.models import SandboxJob
from tests.engine.conftest import (
    account,
    age,
    drive,
    events,
    step,
    submit,
    useapi_reference,
)

pytestmark = pytest.mark.django_db(transaction=True)


def limited(team: Any, provider: str, limit: int) -> Any:
    acc = account(team, provider)
    acc.max_in_flight = limit
    acc.save(update_fields=["max_in_flight"])
    return acc


def make_due(jobs: list[UpscaleJob]) -> None:
    UpscaleJob.objects.filter(pk__in=[j.pk for j in jobs]).update(
        next_action_at=timezone.now() - timedelta(seconds=1)
    )


# ----- per-account concurrency -----------------------------------------------------------------
@pytest.mark.usefixtures("sandbox")
def test_the_ticker_wakes_only_as_many_jobs_as_the_account_has_slots(team, user, monkeypatch):
    limited(team, "ideogram", 2)
    jobs = [submit(team, user, "ideogram") for _ in range(5)]
    make_due(jobs)
    woken: list[int] = []
    monkeypatch.setattr(engine, "enqueue", woken.append)

    assert engine.wake_due_jobs() == 2
    assert woken == [jobs[0].pk, jobs[1].pk]  # oldest first


@pytest.mark.usefixtures("sandbox")
def test_a_full_account_holds_its_queued_jobs_back(team, user):
    limited(team, "useapi", 1)
    reference = useapi_reference(team)
    first, second = (submit(team, user, "useapi", reference=reference) for _ in range(2))
    step(first)
    assert first.status == JobStatus.WAITING

    step(second)

    assert second.status == JobStatus.QUEUED and second.attempts == 0
    assert "allows 1 job(s) at the provider at once" in events(second)[-1]
    step(second)
    assert [e for e in events(second) if e.startswith("throttled")] == events(second)[-1:]
    drive(first)
    drive(second)  # the slot is free again
    assert (first.status, second.status) == (JobStatus.SUCCEEDED, JobStatus.SUCCEEDED)


@pytest.mark.usefixtures("sandbox")
def test_concurrent_claims_never_exceed_the_limit(team, user):
    """Five workers race for an account with two slots: exactly two win."""
    limited(team, "ideogram", 2)
    jobs = [submit(team, user, "ideogram") for _ in range(5)]
    barrier = threading.Barrier(len(jobs))
    claimed: list[Any] = []

    def race(job: UpscaleJob) -> None:
        try:
            barrier.wait()
            claimed.append(engine.claim_for_submit(job.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=race, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert len(claimed) == 5 and sum(job is not None for job in claimed) == 2
    assert UpscaleJob.objects.filter(status=JobStatus.RUNNING).count() == 2


def test_jobs_without_an_account_are_not_limited(team, user, monkeypatch):
    from tests.factories import local_job

    jobs = [local_job(team, user) for _ in range(3)]
    make_due(jobs)
    monkeypatch.setattr(engine, "enqueue", lambda pk: None)
    assert engine.wake_due_jobs() == 3


# ----- webhooks: a hint, idempotent ---------------------------------------------------------------
def test_a_webhook_is_only_a_hint_and_repeating_it_changes_nothing(
    team, user, sandbox, settings, client
):
    settings.PUBLIC_BASE_URL = sandbox
    job = submit(team, user, "useapi", reference=useapi_reference(team))
    step(job)
    hook = reverse("jobs:webhook", args=["useapi", job.webhook_token])
    sent = SandboxJob.objects.get(kind="upscale")
    assert sent.webhook_url == sandbox + hook  # the per-job URL went to the provider
    assert len(job.webhook_token) >= 20
    before = events(job)

    replies = [client.post(hook, {"status": "completed"}) for _ in range(3)]

    job.refresh_from_db()
    assert [r.status_code for r in replies] == [204, 204, 204]
    assert job.status == JobStatus.WAITING and job.next_action_at <= timezone.now()
    assert events(job) == before and job.results.count() == 0  # the body is not trusted
    age(120, kind="upscale")
    step(job)
    assert job.status == JobStatus.SUCCEEDED and job.results.count() == 1
    assert client.post(hook).status_code == 204
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.results.count() == 1


@pytest.mark.usefixtures("sandbox")
def test_a_webhook_with_a_wrong_token_touches_nothing(team, user, client):
    job = submit(team, user, "useapi", reference=useapi_reference(team))
    step(job)
    before = job.next_action_at

    reply = client.post(reverse("jobs:webhook", args=["useapi", "not-the-token"]))

    job.refresh_from_db()
    assert reply.status_code == 204 and job.next_action_at == before


# ----- leases and recovery -----------------------------------------------------------------------
@pytest.mark.usefixtures("sandbox")
def test_a_running_step_keeps_renewing_its_lease(team, user, settings, monkeypatch):
    """Only a dead worker's lease runs out, however long a step takes."""
    settings.JOB_LEASE_SECONDS = 1
    seen: list[Any] = []
    job = submit(team, user, "aimlapi")
    real_submit = type(engine.provider_for(job)).submit

    def slow_submit(self: Any, request: Any) -> Any:
        for _ in range(4):
            threading.Event().wait(0.5)
            seen.append(UpscaleJob.objects.get(pk=job.pk).lease_until)
        return real_submit(self, request)

    monkeypatch.setattr(type(engine.provider_for(job)), "submit", slow_submit)
    step(job)

    assert job.status == JobStatus.SUCCEEDED
    assert len(set(seen)) >= 2  # renewed while the call ran
    assert engine.reconcile() == 0


def test_a_job_that_keeps_killing_its_worker_is_given_up(team, user):
    from tests.factories import local_job

    job = local_job(team, user)
    UpscaleJob.objects.filter(pk=job.pk).update(attempts=engine.MAX_SUBMIT_ATTEMPTS)

    step(job)

    assert job.status == JobStatus.FAILED and job.error_kind == "internal"
    assert "nothing was sent or charged" in job.error_message


def test_a_download_that_keeps_killing_its_worker_is_given_up(team, user):
    from tests.factories import local_job

    job = local_job(team, user)
    UpscaleJob.objects.filter(pk=job.pk).update(
        status=JobStatus.DOWNLOADING,
        read_failures=engine.MAX_READ_RETRIES,
        lease_token="dead",
        lease_until=timezone.now() - timedelta(seconds=1),
    )
    assert engine.reconcile() == 1

    step(job)

    assert job.status == JobStatus.FAILED and job.error_kind == "result_lost"
    assert f"stopped {engine.MAX_READ_RETRIES + 1} times" in job.error_message


def test_a_bug_in_a_step_ends_the_job_instead_of_leaving_it_running(team, user, monkeypatch):
    from jobs import results
    from tests.factories import local_job

    job = local_job(team, user)

    def broken(*args: Any) -> None:
        raise KeyError("width")

    monkeypatch.setattr(results, "store_inline", broken)
    step(job)

    assert job.status == JobStatus.FAILED and job.error_kind == "internal"
    assert "KeyError" in job.error_message and job.lease_token == ""


@pytest.mark.usefixtures("sandbox")
def test_a_bug_after_the_create_was_sent_is_an_unknown_outcome(team, user, monkeypatch):
    from jobs import results

    job = submit(team, user, "aimlapi")

    def broken(*args: Any) -> None:
        raise KeyError("width")

    monkeypatch.setattr(results, "store_inline", broken)
    step(job)

    assert job.status == JobStatus.UNKNOWN and job.attempts == 1
    assert "not sent again" in job.error_message and "press Retry" in job.error_message
