"""The ticker's side of the engine: wake jobs that are due, recover jobs whose worker died.

Both run on every worker node at once (see `manage.py run_worker`): each wake-up and each
recovery is a conditional UPDATE, so only one node acts on any given job.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.db.models import Count, F
from django.utils import timezone

from jobs import engine, job_texts
from jobs.models import ErrorKind, JobStatus, ProviderAccount, UpscaleJob
from jobs.services import record_event


def wake_due_jobs(limit: int = 500) -> int:
    """Enqueue every job whose next action is due.

    Queued jobs of a full account are left alone until a slot frees, so a long queue
    behind a concurrency limit costs no queue traffic.
    """
    now = timezone.now()
    due = list(
        UpscaleJob.objects.filter(
            status__in=[JobStatus.QUEUED, JobStatus.WAITING, JobStatus.DOWNLOADING],
            next_action_at__lte=now,
        )
        .filter(engine.lease_free(now))
        .order_by("next_action_at", "pk")
        .values_list("pk", "next_action_at", "status", "account_id")[:limit]
    )
    free = free_slots({acc for _, _, status, acc in due if status == JobStatus.QUEUED and acc})
    woken = 0
    for pk, when, status, account_id in due:
        if status == JobStatus.QUEUED and account_id:
            if free.get(account_id, 0) <= 0:
                continue
            free[account_id] -= 1
        woken += _dispatch(pk, when, now)
    return woken


def _dispatch(pk: int, when: Any, now: Any) -> int:
    # Only the node that moves next_action_at forward enqueues: no double dispatch.
    moved = UpscaleJob.objects.filter(pk=pk, next_action_at=when).update(
        next_action_at=now + engine.DISPATCH_GRACE
    )
    if moved:
        engine.enqueue(pk)
    return moved


def free_slots(account_ids: Iterable[int]) -> dict[int, int]:
    """How many more jobs each account may have at its provider right now."""
    ids = list(account_ids)
    if not ids:
        return {}
    limits = ProviderAccount.objects.filter(pk__in=ids).values_list("pk", "max_in_flight")
    busy = dict(
        UpscaleJob.objects.filter(account_id__in=ids, status__in=engine.IN_FLIGHT)
        .values("account_id")
        .annotate(n=Count("pk"))
        .values_list("account_id", "n")
    )
    return {pk: limit - busy.get(pk, 0) for pk, limit in limits}


def reconcile() -> int:
    """Recover jobs whose worker died mid-step: their lease ran out without renewal."""
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
        return _recover_unknown(job, base, now)
    if status == JobStatus.RUNNING:
        # Nothing was sent. The attempt was counted at the claim, so a job that kills its
        # worker every time still runs out of attempts.
        moved = base.update(
            status=JobStatus.QUEUED, lease_token="", lease_until=None, next_action_at=now
        )
    else:
        # Polls and downloads are safe to repeat, but one that kills its worker every time
        # must end: count it like a failed read.
        moved = base.update(
            lease_token="",
            lease_until=None,
            next_action_at=now,
            read_failures=F("read_failures") + 1,
        )
    if moved:
        record_event(job, "recovered", "A worker stopped mid-step; the job was picked up again.")
    return moved


def _recover_unknown(job: UpscaleJob, base: Any, now: Any) -> int:
    """The create may have reached the provider: never send it again, say so."""
    message = job_texts.unknown_after_crash(job)
    with transaction.atomic():
        moved = base.update(
            status=JobStatus.UNKNOWN,
            error_kind=ErrorKind.UNKNOWN_OUTCOME,
            error_message=message,
            lease_token="",
            lease_until=None,
            next_action_at=None,
            finished_at=now,
        )
        if moved:
            engine.settle(job, JobStatus.UNKNOWN)
    if moved:
        record_event(job, "unknown", message)
    return moved
