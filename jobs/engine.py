"""The job state machine. The database is the source of truth; the queue only wakes workers.

    queued ──claim(attempt+1)──> running ──sync result──> downloading ──> succeeded
                                   │  └──async accepted──> waiting ──done──┘
                                   └──error──> failed / unknown (outcome of a create unknown)

Every step starts by claiming the job with a conditional UPDATE (status + expired lease),
so duplicate deliveries are no-ops, and keeps its lease alive while it runs, so only a dead
worker's lease runs out. `wake_due_jobs` (run by the ticker every TICK_SECONDS) enqueues
jobs whose `next_action_at` has come; `reconcile` recovers jobs whose worker died.
See docs/architecture.md.
"""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connections, transaction
from django.db.models import DateTimeField, F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from jobs import crypto, ledger, outbound, results
from jobs import job_texts as texts
from jobs.models import ErrorKind, JobEvent, JobStatus, ProviderAccount, UpscaleJob
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
DISPATCH_GRACE = timedelta(seconds=settings.DISPATCH_GRACE_SECONDS)
MAX_SUBMIT_ATTEMPTS = 5
MAX_READ_RETRIES = 8
BACKOFF_BASE = 2.0
BACKOFF_CAP = 120.0
# A job whose account is full looks again after about this long (the ticker only wakes
# queued jobs of accounts with a free slot, so this is rarely reached).
THROTTLE_DELAY = 1.0
# Jobs that occupy one of the account's slots at the provider.
IN_FLIGHT = (JobStatus.RUNNING, JobStatus.WAITING)


# ----- queueing -------------------------------------------------------------------------
def enqueue(job_id: int) -> None:
    """Wake a worker for this job. Safe to call twice: the claim decides who works."""
    from django_q.tasks import async_task

    async_task("jobs.tasks.process_job", job_id, task_name=f"job-{job_id}")


def wake_due_jobs(limit: int = 500) -> int:
    """Enqueue every job whose next action is due (see `jobs.recovery`)."""
    from jobs import recovery  # builds on this module

    return recovery.wake_due_jobs(limit)


def reconcile() -> int:
    """Recover jobs whose worker died mid-step (see `jobs.recovery`)."""
    from jobs import recovery  # builds on this module

    return recovery.reconcile()


def lease_free(now: Any) -> Q:
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
        .filter(lease_free(now))
        .update(lease_token=token, lease_until=lease_until, updated_at=now, **changes)
    )
    if not taken:
        return None
    return UpscaleJob.objects.select_related("account", "source").get(pk=job_id)


@contextlib.contextmanager
def keep_lease(job: UpscaleJob) -> Iterator[None]:
    """Renew the job's lease while a step runs, so only a dead worker's lease runs out.

    Leases can then be short (a crash is noticed within seconds) while a synchronous
    create or a big download takes minutes. The renewer stops on its own once the lease
    is released or taken over, because its token no longer matches.
    """
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew_lease,
        args=(job.pk, job.lease_token, stop),
        name=f"lease-{job.pk}",
        daemon=True,
    )
    renewer.start()
    try:
        yield
    finally:
        stop.set()
        renewer.join()


def _renew_lease(job_id: int, token: str, stop: threading.Event) -> None:
    seconds = settings.JOB_LEASE_SECONDS
    try:
        while not stop.wait(seconds / 3):
            until = timezone.now() + timedelta(seconds=seconds)
            if not UpscaleJob.objects.filter(pk=job_id, lease_token=token).update(
                lease_until=until
            ):
                return
    except Exception:  # a missed renewal only risks an early takeover, never a wrong result
        log.exception("Job %s: could not renew its lease", job_id)
    finally:
        connections.close_all()  # this thread's own connection


def _run(job: UpscaleJob, body: Callable[[UpscaleJob], None]) -> None:
    """Run one step of a claimed job; a bug must end the job, not leave it spinning."""
    job.step_started = time.monotonic()  # type: ignore[attr-defined]
    with keep_lease(job):
        try:
            body(job)
        except Exception as exc:
            log.exception("Job %s: unexpected error", job.pk)
            _crashed(job, exc)


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
    account: ProviderAccount | None = job.account
    return adapter_for(account) if account is not None else get_provider_class(job.provider)()


def adapter_for(account: ProviderAccount) -> Provider:
    """The adapter for one provider account: its decrypted key and its base URL."""
    cls = get_provider_class(account.provider)
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
    job = claim_for_submit(job_id)
    if job is not None:
        _run(job, _submit)


def claim_for_submit(job_id: int) -> UpscaleJob | None:
    """Claim a queued job and count the attempt, if its account has a free slot.

    Count and claim run in one transaction that holds the account row (a row lock on
    PostgreSQL; on SQLite the IMMEDIATE transaction is the database's write lock), so
    two workers can never both take the account's last slot.
    """
    row = UpscaleJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).values("account_id")
    found = row.first()
    if found is None:
        return None
    now = timezone.now()
    changes = {
        "status": JobStatus.RUNNING,
        "attempts": F("attempts") + 1,
        # The first start counts: a job that waited in backoff did not get faster.
        "started_at": Coalesce(F("started_at"), Value(now, output_field=DateTimeField())),
    }
    account_id = found["account_id"]
    if account_id is None:
        return claim(job_id, JobStatus.QUEUED, **changes)
    with transaction.atomic():
        limit = (
            ProviderAccount.objects.select_for_update()
            .filter(pk=account_id)
            .values_list("max_in_flight", flat=True)
            .first()
        )
        busy = UpscaleJob.objects.filter(account_id=account_id, status__in=IN_FLIGHT).count()
        if limit is not None and busy >= limit:
            _throttle(job_id, busy, limit)
            return None
        return claim(job_id, JobStatus.QUEUED, **changes)


def _throttle(job_id: int, busy: int, limit: int) -> None:
    now = timezone.now()
    delay = timedelta(seconds=THROTTLE_DELAY * random.uniform(0.8, 1.5))
    UpscaleJob.objects.filter(pk=job_id, status=JobStatus.QUEUED).filter(lease_free(now)).update(
        next_action_at=now + delay
    )
    if not JobEvent.objects.filter(job_id=job_id, kind="throttled").exists():
        record_event(UpscaleJob.objects.get(pk=job_id), "throttled", texts.throttled(busy, limit))


def _submit(job: UpscaleJob) -> None:
    name = texts.provider_name(job)
    if job.attempts > MAX_SUBMIT_ATTEMPTS:
        _fail(job, ErrorKind.INTERNAL, texts.crash_loop(job))
        return
    record_event(job, "sending", f"Sending to {name} (attempt {job.attempts}).")
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
        _fail(job, ErrorKind.INPUT, f"{name}: {exc.field} {exc.message}")
        return
    _after_outcome(job, provider, outcome)


def _submit_failed(job: UpscaleJob, error: ProviderError) -> None:
    if _create_may_have_run(error):
        _save_error(job, error)
        _finish(
            job, JobStatus.UNKNOWN, ErrorKind.UNKNOWN_OUTCOME, texts.unknown_after_error(job, error)
        )
        return
    if error.retryable and job.attempts < MAX_SUBMIT_ATTEMPTS:
        delay = backoff(job.attempts, error.retry_after)
        record_event(job, "retry", f"{error.message} Next try in {delay:.0f} s.")
        _release(job, status=JobStatus.QUEUED, delay=delay, create_sent_at=None)
        return
    if error.retryable:
        _save_error(job, error)
        _fail(job, ErrorKind.TRANSIENT, texts.gave_up_sending(job, error))
        return
    _fail_from_error(job, error)


def _create_may_have_run(error: ProviderError) -> bool:
    """An unknown outcome, or a success status whose reply could not be read: either way
    the provider may have started, and billed, the job."""
    if error.kind == ProviderErrorKind.UNKNOWN_OUTCOME:
        return True
    return error.status_code is not None and 200 <= error.status_code < 300


# ----- step 2: poll ---------------------------------------------------------------------
def poll_step(job_id: int) -> None:
    job = claim(job_id, JobStatus.WAITING, polls=F("polls") + 1)
    if job is not None:
        _run(job, _poll)


def _poll(job: UpscaleJob) -> None:
    provider = provider_for(job)
    if job.read_failures > MAX_READ_RETRIES:  # only recoveries push it past the limit
        _fail(job, ErrorKind.INTERNAL, texts.read_crash(job, "checking on"))
        return
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
    try:
        canceled = provider.cancel(job.provider_job_id)
    except ProviderError:
        canceled = False
    message = texts.gave_up_waiting(job, provider.deadline_seconds, canceled)
    _fail(job, ErrorKind.TIMEOUT, message)


def _read_failed(job: UpscaleJob, error: ProviderError, status: str) -> None:
    """A status poll failed. Reads are safe to repeat, with backoff, a bounded number of times."""
    if error.retryable and job.read_failures < MAX_READ_RETRIES:
        delay = backoff(job.read_failures + 1, error.retry_after)
        record_event(job, "retry", f"{error.message} Checking again in {delay:.0f} s.")
        _release(job, status=status, delay=delay, read_failures=F("read_failures") + 1)
        return
    if error.retryable:
        _save_error(job, error)
        message = texts.gave_up_polling(job, error, job.read_failures + 1)
        _fail(job, ErrorKind.TRANSIENT, message)
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
            texts.failed_without_reason(job), kind=ProviderErrorKind.PROVIDER
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
    if not outcome.results:
        _fail(job, ErrorKind.PROVIDER, texts.no_results(job))
        return
    pending = results.pending_refs(outcome.results)
    downloading = f"; downloading {len(pending)}" if pending else ""
    record_event(
        job, "finished", f"The provider finished: {len(outcome.results)} image(s){downloading}."
    )
    try:
        results.store_inline(job, outcome.results)
    except results.ResultRejected as exc:
        _fail(job, ErrorKind.PROVIDER, str(exc))
        return
    if not pending:
        _succeed(job)
        return
    _save(job, status=JobStatus.DOWNLOADING, pending_results=pending, read_failures=0)
    download_results(job)


# ----- step 3: download -----------------------------------------------------------------
def download_step(job_id: int) -> None:
    job = claim(job_id, JobStatus.DOWNLOADING)
    if job is not None:
        _run(job, _resume_download)


def _resume_download(job: UpscaleJob) -> None:
    if job.read_failures > MAX_READ_RETRIES:  # only recoveries push it past the limit
        _fail(job, ErrorKind.RESULT_LOST, texts.read_crash(job, "downloading the result of"))
        return
    download_results(job)


def download_results(job: UpscaleJob) -> None:
    """Fetch every result URL not stored yet. A crash here resumes where it stopped."""
    provider_cls = get_provider_class(job.provider)
    fetched = 0
    for item in list(job.pending_results):
        if results.is_stored(job, item["index"]):
            continue
        if fetched and _no_time_for_another_download(job):
            # The rest in a fresh step: no task may outlive the worker's timeout.
            _release(job, status=JobStatus.DOWNLOADING, delay=0)
            return
        fetched += 1
        try:
            results.fetch_and_store(job, item, provider_cls)
        except outbound.DownloadError as error:
            _download_failed(job, error)
            return
        except results.ResultRejected as exc:
            _fail(job, ErrorKind.PROVIDER, str(exc))
            return
    _succeed(job)


def _no_time_for_another_download(job: UpscaleJob) -> bool:
    started = getattr(job, "step_started", time.monotonic())
    worst_case = time.monotonic() - started + settings.RESULT_DOWNLOAD_DEADLINE_SECONDS
    return worst_case > settings.WORKER_TIMEOUT * 0.9


def _download_failed(job: UpscaleJob, error: outbound.DownloadError) -> None:
    if error.retryable and job.read_failures < MAX_READ_RETRIES:
        delay = backoff(job.read_failures + 1, error.retry_after)
        record_event(job, "retry", f"{error.message} Downloading again in {delay:.0f} s.")
        _release(
            job, status=JobStatus.DOWNLOADING, delay=delay, read_failures=F("read_failures") + 1
        )
        return
    if error.kind == "expired":
        message = texts.result_expired(job, error.message)
        _finish(job, JobStatus.LOST, ErrorKind.RESULT_LOST, message)
        return
    tries = job.read_failures + 1 if error.retryable else None
    _fail(job, ErrorKind.RESULT_LOST, texts.download_failed(job, error.message, tries))


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


def _crashed(job: UpscaleJob, exc: Exception) -> None:
    """End a job whose step hit a bug, saying honestly whether its create may have gone out."""
    try:
        held = UpscaleJob.objects.filter(pk=job.pk, lease_token=job.lease_token)
        state = held.values("status", "create_sent_at").first()
        if state is None:
            return  # someone else holds the job now
        what = f"{type(exc).__name__}: {str(exc)[:200]}"
        if state["status"] == JobStatus.RUNNING and state["create_sent_at"]:
            job.create_sent_at = state["create_sent_at"]
            message = texts.unknown_after_bug(job, what)
            _finish(job, JobStatus.UNKNOWN, ErrorKind.UNKNOWN_OUTCOME, message)
            return
        _fail(job, ErrorKind.INTERNAL, texts.internal_error(what))
    except Exception:  # the database itself may be the problem: the reconciler will see it
        log.exception("Job %s: could not record the failure", job.pk)


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
    """Close the job's money once it is terminal, by its provider's refund rule.

    UNKNOWN keeps its hold until someone checks with the provider (jobs.ledger.settle).
    """
    ledger.settle(job, status)


# ----- cancel -----------------------------------------------------------------------------
def cancel_waiting(job: UpscaleJob, who: str) -> str | None:
    """Cancel a WAITING job this caller has claimed; the timeline message, or None.

    With a provider cancel call, the job is canceled there first; if the provider refuses
    (the job is too far along), it goes back to the poller and None is returned, so a
    finished, paid result is never thrown away. Without one, the job is canceled here only:
    the provider may still run it, and `settle` charges it by the provider's rule.
    """
    provider = provider_for(job)
    name = texts.provider_name(job)
    if type(provider).cancel is Provider.cancel:
        _finish(job, JobStatus.CANCELED, ErrorKind.NONE, "")
        return texts.canceled_here_only(job, who)
    try:
        stopped = provider.cancel(job.provider_job_id)
    except Exception:  # an unreachable provider cannot confirm the cancel
        log.warning("Job %s: cancel at %s failed", job.pk, name, exc_info=True)
        stopped = False
    if not stopped:
        _release(job, status=JobStatus.WAITING, delay=0)  # poll at once: it may be done
        return None
    _finish(job, JobStatus.CANCELED, ErrorKind.NONE, "")
    return f"Canceled at {name} by {who}."


# ----- retries ----------------------------------------------------------------------------
def backoff(attempt: int, retry_after: float | None = None) -> float:
    """Capped exponential backoff with full jitter; Retry-After wins when the provider sends it."""
    if retry_after is not None:
        return min(max(retry_after, 0.5), BACKOFF_CAP * 5)
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(attempt - 1, 0)))
    return random.uniform(ceiling / 2, ceiling)


STEPS: dict[str | None, Callable[[int], None]] = {
    JobStatus.QUEUED: submit_step,
    JobStatus.WAITING: poll_step,
    JobStatus.DOWNLOADING: download_step,
}
