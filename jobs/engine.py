"""The job state machine. The database is the source of truth; the queue only wakes workers.

    queued ──claim(attempt+1)──> running ──sync result──> downloading ──> succeeded
                                   │  └──async accepted──> waiting ──done──┘
                                   └──error──> failed / unknown (outcome of a create unknown)

Every step starts by claiming the job with a conditional UPDATE (status + expired lease),
so duplicate deliveries are no-ops. `wake_due_jobs` (run by the ticker every second)
enqueues jobs whose `next_action_at` has come; `reconcile` recovers jobs whose worker died.
See docs/architecture.md.
"""

from __future__ import annotations

import logging
import random
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from jobs import crypto, ledger, outbound, results
from jobs.models import ErrorKind, JobStatus, ProviderAccount, UpscaleJob
from jobs.providers.base import (
    ErrorKind as ProviderErrorKind,
)
from jobs.providers.base import (
    InputKind,
    JobRequest,
    JobState,
    OptionError,
    Outcome,
    Provider,
    ProviderError,
    SourceInput,
)
from jobs.providers.registry import get_provider_class
from jobs.services import record_event

log = logging.getLogger(__name__)

# If a queued task has not claimed its job by then, the ticker sends another (lost delivery).
DISPATCH_GRACE = timedelta(seconds=30)
MAX_SUBMIT_ATTEMPTS = 5
MAX_READ_RETRIES = 8
BACKOFF_BASE = 2.0
BACKOFF_CAP = 120.0


# ----- queueing -------------------------------------------------------------------------
def enqueue(job_id: int) -> None:
    """Wake a worker for this job. Safe to call twice: the claim decides who works."""
    from django_q.tasks import async_task

    async_task("jobs.tasks.process_job", job_id, task_name=f"job-{job_id}")


def wake_due_jobs(limit: int = 500) -> int:
    """Enqueue every job whose next action is due. Called by the ticker on every node."""
    now = timezone.now()
    due = (
        UpscaleJob.objects.filter(
            status__in=[JobStatus.QUEUED, JobStatus.WAITING, JobStatus.DOWNLOADING],
            next_action_at__lte=now,
        )
        .filter(_lease_free(now))
        .values_list("pk", "next_action_at")[:limit]
    )
    woken = 0
    for pk, when in due:
        # Only the node that moves next_action_at forward enqueues: no double dispatch.
        moved = UpscaleJob.objects.filter(pk=pk, next_action_at=when).update(
            next_action_at=now + DISPATCH_GRACE
        )
        if moved:
            enqueue(pk)
            woken += 1
    return woken


def _lease_free(now: Any) -> Q:
    return Q(lease_until__isnull=True) | Q(lease_until__lt=now)


# ----- the task ---------------------------------------------------------------------------
def process_job(job_id: int) -> None:
    """Run whatever step the job is due for. The only entry point of the worker task."""
    status = UpscaleJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    step = STEPS.get(status)
    if step is not None:
        step(job_id)


def claim(job_id: int, from_status: str, **changes: Any) -> UpscaleJob | None:
    """Take a job for one step. Committed at once, so it is visible to every other worker."""
    now = timezone.now()
    token = secrets.token_hex(8)
    lease_until = now + timedelta(seconds=settings.JOB_LEASE_SECONDS)
    taken = (
        UpscaleJob.objects.filter(pk=job_id, status=from_status)
        .filter(_lease_free(now))
        .update(lease_token=token, lease_until=lease_until, updated_at=now, **changes)
    )
    if not taken:
        return None
    return UpscaleJob.objects.select_related("account", "source").get(pk=job_id)


def _save(job: UpscaleJob, **changes: Any) -> bool:
    """Write changes only while we still hold the lease; False means someone took over."""
    changes.setdefault("updated_at", timezone.now())
    written = UpscaleJob.objects.filter(pk=job.pk, lease_token=job.lease_token).update(**changes)
    for name, value in changes.items():
        if not hasattr(value, "resolve_expression"):
            setattr(job, name, value)
    return bool(written)


def _release(job: UpscaleJob, *, status: str, delay: float | None, **changes: Any) -> bool:
    next_at = timezone.now() + timedelta(seconds=delay) if delay is not None else None
    return _save(
        job, status=status, next_action_at=next_at, lease_token="", lease_until=None, **changes
    )


# ----- provider plumbing -----------------------------------------------------------------
def provider_for(job: UpscaleJob) -> Provider:
    cls = get_provider_class(job.provider)
    account: ProviderAccount | None = job.account
    if account is None:
        return cls()
    return cls(
        api_key=crypto.decrypt(account.api_key_encrypted), base_url=account_base_url(account)
    )


def account_base_url(account: ProviderAccount) -> str:
    if account.base_url:
        return account.base_url
    if account.is_sandbox:
        cls = get_provider_class(account.provider)
        return f"{settings.SANDBOX_BASE_URL}/sandbox/{account.provider}{sandbox_path(cls)}"
    return ""


def sandbox_path(cls: type[Provider]) -> str:
    """The sandbox mirrors the provider's documented path under /sandbox/<slug>/."""
    from urllib.parse import urlsplit

    return urlsplit(cls.default_base_url).path.rstrip("/")


def build_request(job: UpscaleJob, provider: Provider) -> JobRequest:
    source = _source_input(job, provider)
    return JobRequest(
        job_id=str(job.public_id),
        options=dict(job.options),
        source=source,
        webhook_url=results.webhook_url(job) if provider.is_async else "",
    )


def _source_input(job: UpscaleJob, provider: Provider) -> SourceInput:
    if job.source_ref:
        return SourceInput(kind=InputKind.REFERENCE, reference=job.source_ref)
    source = job.source
    if source is None:
        raise ProviderError("This job has no source image.", kind=ProviderErrorKind.INPUT)
    if InputKind.UPLOAD in provider.input_kinds:
        with source.file.open("rb") as fh:
            data = fh.read()
        return SourceInput(
            kind=InputKind.UPLOAD,
            data=data,
            filename=source.original_name,
            content_type=source.content_type,
            width=source.width,
            height=source.height,
        )
    return SourceInput(
        kind=InputKind.PUBLIC_URL,
        public_url=results.public_source_url(
            source, sandbox=bool(job.account and job.account.is_sandbox)
        ),
        width=source.width,
        height=source.height,
    )


# ----- step 1: submit -------------------------------------------------------------------
def submit_step(job_id: int) -> None:
    now = timezone.now()
    job = claim(
        job_id,
        JobStatus.QUEUED,
        status=JobStatus.RUNNING,
        attempts=F("attempts") + 1,
        started_at=now,
    )
    if job is None:
        return
    cls = get_provider_class(job.provider)
    if not _has_capacity(job):
        _release(job, status=JobStatus.QUEUED, delay=2.0, attempts=F("attempts") - 1)
        return
    record_event(job, "sending", f"Sending to {cls.name} (attempt {job.attempts}).")
    try:
        provider = provider_for(job)
        request = build_request(job, provider)
        if provider.needs_network:
            # From here on a crash means we cannot know whether the provider got the create.
            _save(job, create_sent_at=timezone.now())
        outcome = provider.submit(request)
    except ProviderError as error:
        _submit_failed(job, error)
        return
    except OptionError as exc:  # options saved before a provider tightened its rules
        _fail(job, ErrorKind.INPUT, f"{cls.name}: {exc.field} {exc.message}")
        return
    except Exception as exc:  # a bug must not leave the job running forever
        log.exception("Job %s: unexpected error while submitting", job.pk)
        _fail(job, ErrorKind.INTERNAL, f"Unexpected error while sending: {exc}")
        return
    _after_outcome(job, provider, outcome)


def _has_capacity(job: UpscaleJob) -> bool:
    """Per-account concurrency limit (e.g. Ideogram allows 10 in flight per account)."""
    if job.account is None:
        return True
    in_flight = (
        UpscaleJob.objects.filter(
            account=job.account, status__in=[JobStatus.RUNNING, JobStatus.WAITING]
        )
        .exclude(pk=job.pk)
        .count()
    )
    return in_flight < job.account.max_in_flight


def _submit_failed(job: UpscaleJob, error: ProviderError) -> None:
    if error.kind == ProviderErrorKind.UNKNOWN_OUTCOME:
        _save_error(job, error)
        _finish(job, JobStatus.UNKNOWN, ErrorKind.UNKNOWN_OUTCOME, _unknown_text(job, error))
        return
    if error.retryable and job.attempts < MAX_SUBMIT_ATTEMPTS:
        delay = backoff(job.attempts, error.retry_after)
        record_event(job, "retry", f"{error.message} Next try in {delay:.0f} s.")
        _release(job, status=JobStatus.QUEUED, delay=delay, create_sent_at=None)
        return
    _fail_from_error(job, error)


def _unknown_text(job: UpscaleJob, error: ProviderError) -> str:
    return (
        f"{error.message} It was not sent again, to avoid paying twice. "
        "Check the provider's dashboard, then retry the job if it is not there."
    )


# ----- step 2: poll ---------------------------------------------------------------------
def poll_step(job_id: int) -> None:
    job = claim(job_id, JobStatus.WAITING, polls=F("polls") + 1)
    if job is None:
        return
    provider = provider_for(job)
    if job.deadline_at and timezone.now() > job.deadline_at:
        _give_up_waiting(job, provider)
        return
    try:
        outcome = provider.poll(job.provider_job_id)
    except ProviderError as error:
        _read_failed(job, error, JobStatus.WAITING)
        return
    _after_outcome(job, provider, outcome)


def _give_up_waiting(job: UpscaleJob, provider: Provider) -> None:
    minutes = provider.deadline_seconds // 60
    try:
        canceled = provider.cancel(job.provider_job_id)
    except ProviderError:
        canceled = False
    note = " It was canceled at the provider." if canceled else ""
    _fail(job, ErrorKind.TIMEOUT, f"The provider had not finished after {minutes} minutes.{note}")


def _read_failed(job: UpscaleJob, error: ProviderError, status: str) -> None:
    """A status poll failed. Reads are safe to repeat, with backoff, a bounded number of times."""
    if error.retryable and job.read_failures < MAX_READ_RETRIES:
        delay = backoff(job.read_failures + 1, error.retry_after)
        record_event(job, "retry", f"{error.message} Checking again in {delay:.0f} s.")
        _release(job, status=status, delay=delay, read_failures=F("read_failures") + 1)
        return
    _fail_from_error(job, error)


# ----- outcomes -------------------------------------------------------------------------
def _after_outcome(job: UpscaleJob, provider: Provider, outcome: Outcome) -> None:
    if outcome.provider_job_id and outcome.provider_job_id != job.provider_job_id:
        _save(job, provider_job_id=outcome.provider_job_id)
    if outcome.state == JobState.RUNNING:
        _keep_waiting(job, provider, outcome)
    elif outcome.state == JobState.FAILED:
        error = outcome.error or ProviderError(
            "The provider reported the job as failed.", kind=ProviderErrorKind.PROVIDER
        )
        if outcome.cost is not None:
            ledger.capture(job, outcome.cost)
        _fail_from_error(job, error)
    else:
        _succeeded_at_provider(job, provider, outcome)


def _keep_waiting(job: UpscaleJob, provider: Provider, outcome: Outcome) -> None:
    if outcome.cost is not None and outcome.cost.source == "reported":
        ledger.capture(job, outcome.cost)  # e.g. useapi's forecastCost, charged at start
    if job.status == JobStatus.RUNNING:
        deadline = timezone.now() + timedelta(seconds=provider.deadline_seconds)
        record_event(job, "accepted", f"Accepted by the provider as {job.provider_job_id}.")
        _release(job, status=JobStatus.WAITING, delay=provider.poll_interval, deadline_at=deadline)
        return
    _release(job, status=JobStatus.WAITING, delay=provider.poll_interval, read_failures=0)


def _succeeded_at_provider(job: UpscaleJob, provider: Provider, outcome: Outcome) -> None:
    ledger.capture(job, outcome.cost or provider.estimate(job.options))
    record_event(job, "finished", f"The provider finished: {len(outcome.results)} image(s).")
    results.store_inline(job, outcome.results)
    pending = results.pending_refs(outcome.results)
    if not pending:
        _succeed(job)
        return
    _save(job, status=JobStatus.DOWNLOADING, pending_results=pending)
    download_results(job)


# ----- step 3: download -----------------------------------------------------------------
def download_step(job_id: int) -> None:
    job = claim(job_id, JobStatus.DOWNLOADING)
    if job is not None:
        download_results(job)


def download_results(job: UpscaleJob) -> None:
    """Fetch every result URL not stored yet. A crash here resumes where it stopped."""
    provider_cls = get_provider_class(job.provider)
    for item in list(job.pending_results):
        if results.is_stored(job, item["index"]):
            continue
        try:
            results.fetch_and_store(job, item, provider_cls)
        except outbound.DownloadError as error:
            _download_failed(job, error)
            return
        except results.ResultRejected as exc:
            _fail(job, ErrorKind.PROVIDER, str(exc))
            return
    _succeed(job)


def _download_failed(job: UpscaleJob, error: outbound.DownloadError) -> None:
    if error.retryable and job.read_failures < MAX_READ_RETRIES:
        delay = backoff(job.read_failures + 1, error.retry_after)
        record_event(job, "retry", f"{error.message} Downloading again in {delay:.0f} s.")
        _release(
            job, status=JobStatus.DOWNLOADING, delay=delay, read_failures=F("read_failures") + 1
        )
        return
    if error.kind == "expired":
        _finish(job, JobStatus.LOST, ErrorKind.RESULT_LOST, error.message)
        return
    _fail(job, ErrorKind.RESULT_LOST, error.message)


# ----- endings --------------------------------------------------------------------------
def _succeed(job: UpscaleJob) -> None:
    count = job.results.count()
    _finish(job, JobStatus.SUCCEEDED, ErrorKind.NONE, "")
    record_event(job, "succeeded", f"Done: {count} result(s) stored.")


def _fail_from_error(job: UpscaleJob, error: ProviderError) -> None:
    _save_error(job, error)
    kind = ErrorKind(error.kind) if error.kind in ErrorKind.values else ErrorKind.PROVIDER
    if kind == ErrorKind.ACCOUNT and job.account_id:
        ProviderAccount.objects.filter(pk=job.account_id).update(health_message=error.message[:300])
    _fail(job, kind, error.message)


def _save_error(job: UpscaleJob, error: ProviderError) -> None:
    if error.provider_message:
        _save(job, provider_message=error.provider_message[:2000])


def _fail(job: UpscaleJob, kind: str, message: str) -> None:
    _finish(job, JobStatus.FAILED, kind, message)


def _finish(job: UpscaleJob, status: str, kind: str, message: str) -> None:
    with transaction.atomic():
        if not _release(
            job,
            status=status,
            delay=None,
            error_kind=kind,
            error_message=message,
            finished_at=timezone.now(),
        ):
            return
        settle(job, status)
    if message:
        record_event(job, status, message)


def settle(job: UpscaleJob, status: str) -> None:
    """Close the job's money once it is terminal: release what was held but not charged."""
    if status == JobStatus.UNKNOWN:
        return  # keep the hold until someone checks with the provider
    ledger.release(job)


# ----- retries ----------------------------------------------------------------------------
def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Capped exponential backoff with full jitter; Retry-After wins when the provider sends it."""
    if retry_after is not None:
        return min(max(retry_after, 0.5), BACKOFF_CAP * 5)
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempt - 1, 0)))
    return random.uniform(ceiling / 2, ceiling)


# ----- recovery ---------------------------------------------------------------------------
def reconcile() -> int:
    """Recover jobs whose worker died mid-step (lease expired). Safe to run on every node."""
    now = timezone.now()
    stale = UpscaleJob.objects.filter(
        status__in=[JobStatus.RUNNING, JobStatus.WAITING, JobStatus.DOWNLOADING],
        lease_until__lt=now,
    ).values_list("pk", "status", "create_sent_at", "lease_token")
    recovered = 0
    for pk, status, sent_at, token in stale:
        recovered += _recover(pk, status, sent_at, token, now)
    return recovered


def _recover(pk: int, status: str, sent_at: Any, token: str, now: Any) -> int:
    base = UpscaleJob.objects.filter(pk=pk, status=status, lease_token=token, lease_until__lt=now)
    job = UpscaleJob.objects.get(pk=pk)
    if status == JobStatus.RUNNING and sent_at is not None:
        message = (
            "The worker stopped while this job was being sent, so we cannot tell whether the "
            "provider received it. It was not sent again, to avoid paying twice."
        )
        moved = base.update(
            status=JobStatus.UNKNOWN,
            error_kind=ErrorKind.UNKNOWN_OUTCOME,
            error_message=message,
            lease_token="",
            lease_until=None,
            finished_at=now,
        )
        if moved:
            record_event(job, "unknown", message)
        return moved
    back_to = JobStatus.QUEUED if status == JobStatus.RUNNING else status
    moved = base.update(status=back_to, lease_token="", lease_until=None, next_action_at=now)
    if moved:
        record_event(job, "recovered", "A worker stopped mid-step; the job was picked up again.")
    return moved


STEPS: dict[str | None, Callable[[int], None]] = {
    JobStatus.QUEUED: submit_step,
    JobStatus.WAITING: poll_step,
    JobStatus.DOWNLOADING: download_step,
}
