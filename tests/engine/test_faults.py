"""The engine against a misbehaving sandbox: each fault knob, driven one step at a time.

Steps run inline (engine.process_job in the test), so each assertion sees exactly one
decision of the state machine; the real provider adapters talk to the fakes over HTTP.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from jobs import engine
from jobs.models import ErrorKind, JobStatus
from jobs.providers.registry import get_provider_class
from sandbox import knobs
from sandbox import log as sandbox_log
from tests.engine.conftest import (
    age,
    charges,
    creates,
    drive,
    events,
    held,
    step,
    submit,
    useapi_reference,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("sandbox")]


def seconds_until(when: Any) -> float:
    return (when - timezone.now()).total_seconds()


def accepted_useapi_job(team: Any, user: Any, **knob: Any) -> Any:
    """A useapi.net upscale the provider has accepted: the job waits for its first poll.

    `knob`s are set after the source generation finished and before the upscale is sent.
    """
    reference = useapi_reference(team)
    if knob:
        knobs.set_knobs("useapi", **knob)
    job = submit(team, user, "useapi", reference=reference)
    step(job)
    assert job.status == JobStatus.WAITING, events(job)
    return job


# ----- 429 with Retry-After, 5xx bursts ------------------------------------------------------
def test_rate_limited_create_waits_for_retry_after_then_succeeds(team, user):
    knobs.set_knobs("aimlapi", rate_limit_next=1, retry_after_seconds=7)
    job = submit(team, user, "aimlapi", options={"resolution": "2k"})

    step(job)

    assert job.status == JobStatus.QUEUED and job.create_sent_at is None
    assert 6 < seconds_until(job.next_action_at) <= 7.5  # Retry-After, not our own backoff
    assert "Next try in 7 s" in events(job)[-1]
    drive(job)
    assert job.status == JobStatus.SUCCEEDED
    assert (creates(job), creates(job, accepted_only=True), charges(job)) == (2, 1, 1)


def test_rate_limited_polls_back_off_and_recover(team, user):
    job = accepted_useapi_job(team, user)
    knobs.set_knobs("useapi", rate_limit_next=2, retry_after_seconds=3)

    step(job)
    assert job.status == JobStatus.WAITING and job.read_failures == 1
    assert 2 < seconds_until(job.next_action_at) <= 3.5
    step(job)
    assert job.read_failures == 2

    drive(job)
    assert job.status == JobStatus.SUCCEEDED and job.results.count() == 1
    assert creates(job) == 1 and charges(job) == 1


def test_503_burst_on_a_create_is_retried_with_backoff(team, user):
    knobs.set_knobs("aimlapi", server_errors_next=2, server_error_status=503)
    job = submit(team, user, "aimlapi")

    step(job)
    first = seconds_until(job.next_action_at)
    step(job)
    second = seconds_until(job.next_action_at)

    assert job.status == JobStatus.QUEUED and job.attempts == 2
    assert 0.5 <= first <= 2.5 and 1 <= second <= 4.5  # exponential, jittered
    drive(job)
    assert job.status == JobStatus.SUCCEEDED and creates(job, accepted_only=True) == 1


def test_a_create_that_keeps_failing_ends_with_a_clear_message(team, user):
    knobs.set_knobs("aimlapi", server_errors_next=50, server_error_status=503)
    job = submit(team, user, "aimlapi")

    drive(job)

    assert job.status == JobStatus.FAILED and job.error_kind == ErrorKind.TRANSIENT
    assert job.attempts == engine.MAX_SUBMIT_ATTEMPTS
    assert "turned this job away on all 5 attempts" in job.error_message
    assert "HTTP 503" in job.error_message and "nothing was charged" in job.error_message
    assert "try again shortly" not in job.error_message  # no promise we will not keep
    assert held(job) == {"reserve", "release"}


def test_a_gateway_error_after_sending_is_never_resent(team, user):
    # Ideogram may have started the job before its gateway failed: unknown, not retryable.
    knobs.set_knobs("ideogram", server_errors_next=1, server_error_status=502)
    job = submit(team, user, "ideogram")

    drive(job)

    assert job.status == JobStatus.UNKNOWN and job.attempts == 1
    assert sandbox_log.creates("ideogram").count() == 1
    assert "not sent again" in job.error_message and "press Retry" in job.error_message
    assert held(job) == {"reserve"}  # the hold stays until someone checks


def test_5xx_burst_on_polls_is_survived(team, user):
    job = accepted_useapi_job(team, user)
    knobs.set_knobs("useapi", server_errors_next=3, server_error_status=500)

    drive(job)

    assert job.status == JobStatus.SUCCEEDED
    assert sum("Checking again" in line for line in events(job)) == 3


def test_polls_that_keep_failing_end_with_a_clear_message(team, user):
    job = accepted_useapi_job(team, user)
    knobs.set_knobs("useapi", server_errors_next=50, server_error_status=503)

    drive(job, max_steps=engine.MAX_READ_RETRIES + 2)

    assert job.status == JobStatus.FAILED and job.error_kind == ErrorKind.TRANSIENT
    assert f"after {engine.MAX_READ_RETRIES + 1} tries" in job.error_message
    assert "check there before retrying" in job.error_message
    assert creates(job) == 1


# ----- stuck jobs and deadlines -----------------------------------------------------------------
def test_a_stuck_job_is_given_up_at_its_deadline_and_canceled_there(team, user, shorten_deadline):
    shorten_deadline("useapi", 60)
    job = accepted_useapi_job(team, user, stuck=True)
    age(600, kind="upscale")
    step(job)
    assert job.status == JobStatus.WAITING  # stuck, but before its deadline

    type(job).objects.filter(pk=job.pk).update(deadline_at=timezone.now())
    step(job)

    assert job.status == JobStatus.FAILED and job.error_kind == ErrorKind.TIMEOUT
    assert job.error_message.startswith("useapi.net (Dreamina) had not finished after 60 seconds")
    assert "canceled at useapi.net" in job.error_message
    cancel = sandbox_log.SandboxRequest.objects.filter(provider="useapi", method="DELETE")
    assert cancel.get().status_code == 204


def test_a_stuck_job_without_a_provider_cancel_says_it_may_still_finish(team, user):
    knobs.set_knobs("uwear", stuck=True)
    job = submit(team, user, "uwear")
    step(job)
    assert job.status == JobStatus.WAITING, events(job)

    type(job).objects.filter(pk=job.pk).update(deadline_at=timezone.now())
    step(job)

    assert job.error_kind == ErrorKind.TIMEOUT
    assert "may still finish it: check there before retrying" in job.error_message


# ----- downloads: expired, slow, oversized -----------------------------------------------------
def test_an_expired_result_url_ends_the_job_as_result_lost(team, user):
    knobs.set_knobs("aimlapi", result_ttl_seconds=0)
    job = submit(team, user, "aimlapi")

    drive(job)

    assert job.status == JobStatus.LOST and job.error_kind == ErrorKind.RESULT_LOST
    assert "HTTP 410" in job.error_message and "charged for the job" in job.error_message
    assert held(job) == {"reserve", "capture", "release"}  # paid, and the hold given back
    assert job.results.count() == 0


def test_a_slow_drip_download_hits_its_deadline_and_is_retried(team, user, settings):
    settings.RESULT_DOWNLOAD_DEADLINE_SECONDS = 1
    knobs.set_knobs("aimlapi", slow_drip_bytes_per_second=20_000)
    job = submit(team, user, "aimlapi")

    step(job)

    assert job.status == JobStatus.DOWNLOADING and job.read_failures == 1
    assert "took too long" in events(job)[-1]
    knobs.set_knobs("aimlapi", slow_drip_bytes_per_second=0)
    drive(job)
    assert job.status == JobStatus.SUCCEEDED and job.results.count() == 1
    assert creates(job) == 1 and charges(job) == 1


def test_a_download_that_stays_slow_fails_with_a_clear_message(team, user, settings):
    settings.RESULT_DOWNLOAD_DEADLINE_SECONDS = 1
    knobs.set_knobs("aimlapi", slow_drip_bytes_per_second=20_000)
    job = submit(team, user, "aimlapi")
    step(job)
    type(job).objects.filter(pk=job.pk).update(read_failures=engine.MAX_READ_RETRIES)

    step(job)

    assert job.status == JobStatus.FAILED and job.error_kind == ErrorKind.RESULT_LOST
    assert "could not be downloaded: The result download took too long" in job.error_message
    assert f"Gave up after {engine.MAX_READ_RETRIES + 1} tries" in job.error_message


def test_many_results_are_fetched_over_several_steps_when_time_is_short(team, user, settings):
    # Each download may take up to its deadline; no step may outlive the worker's timeout.
    settings.WORKER_TIMEOUT = 10
    settings.RESULT_DOWNLOAD_DEADLINE_SECONDS = 9
    job = submit(team, user, "ideogram", options={"num_images": 3})

    step(job)
    assert job.status == JobStatus.DOWNLOADING and job.results.count() == 1
    step(job)
    assert job.status == JobStatus.DOWNLOADING and job.results.count() == 2
    step(job)

    assert job.status == JobStatus.SUCCEEDED and job.results.count() == 3
    assert sandbox_log.creates("ideogram").count() == 1 and charges(job) == 1


def test_an_oversized_download_is_refused(team, user, monkeypatch):
    monkeypatch.setattr(get_provider_class("aimlapi"), "max_result_bytes", 5 * 1024 * 1024)
    knobs.set_knobs("aimlapi", oversize_bytes=6 * 1024 * 1024)
    job = submit(team, user, "aimlapi")

    drive(job)

    assert job.status == JobStatus.FAILED and job.error_kind == ErrorKind.RESULT_LOST
    assert "larger than the 5 MB allowed" in job.error_message
    assert job.results.count() == 0


# ----- malformed replies -------------------------------------------------------------------------
def test_a_malformed_reply_to_a_create_is_an_unknown_outcome(team, user):
    # 200 with half a JSON body: the provider did the (paid) work; we cannot read it.
    knobs.set_knobs("aimlapi", malformed=True)
    job = submit(team, user, "aimlapi")

    drive(job)

    assert job.status == JobStatus.UNKNOWN and job.attempts == 1
    assert creates(job) == 1
    assert "not JSON" in job.error_message and "not sent again" in job.error_message


def test_malformed_poll_replies_are_retried(team, user):
    job = accepted_useapi_job(team, user)
    knobs.set_knobs("useapi", malformed=True)
    step(job)
    assert job.status == JobStatus.WAITING and job.read_failures == 1

    knobs.set_knobs("useapi", malformed=False)
    drive(job)
    assert job.status == JobStatus.SUCCEEDED


# ----- errors a user must act on --------------------------------------------------------------
@pytest.mark.parametrize(
    ("provider", "knob", "words"),
    [
        ("aimlapi", {"out_of_credits": True}, "out of credits"),
        ("ideogram", {"out_of_credits": True}, "run out of funds"),
        ("useapi", {"account_broken": True}, "Re-add the Dreamina account"),
    ],
)
def test_account_problems_fail_at_once_and_say_what_to_do(team, user, provider, knob, words):
    kw = {"reference": useapi_reference(team)} if provider == "useapi" else {}
    knobs.set_knobs(provider, **knob)
    job = submit(team, user, provider, **kw)

    drive(job)

    assert job.status == JobStatus.FAILED and job.error_kind == ErrorKind.ACCOUNT
    assert words in job.error_message and job.attempts == 1
    assert job.account.health_message == job.error_message[:300]


def test_a_failed_job_at_the_provider_keeps_the_providers_words(team, user):
    job = accepted_useapi_job(team, user, failure_rate=1.0)

    drive(job)

    assert job.status == JobStatus.FAILED and job.error_kind == ErrorKind.PROVIDER
    assert "reported the upscale as failed" in job.error_message
    assert "fail_code" in job.provider_message
