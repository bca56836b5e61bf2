"""Webhook calls of the fakes (useapi's `replyUrl`): best effort, at most once per job.

Progress is lazy, so a job only "finishes" when someone looks. Two things look without
being asked: a timer thread started at create time (so a client that only listens for
the webhook still gets it while this process lives) and every later request to the same
fake (which catches up on webhooks a dead process never sent). The DB claim on
`webhook_sent_at` keeps the two from both sending.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import connection

from sandbox import clock, progress
from sandbox.fetch import post_json
from sandbox.models import Phase, SandboxJob

log = logging.getLogger(__name__)

Payload = Callable[[SandboxJob, Phase], Any]
CATCH_UP_LIMIT = 5
TIMER_SLACK_SECONDS = 0.25


def deliver(job: SandboxJob, payload: Payload) -> bool:
    """Send the job's webhook if it has finished and nobody sent it yet."""
    phase = progress.settle(job)
    if phase not in progress.TERMINAL:
        return False
    claimed = SandboxJob.objects.filter(pk=job.pk, webhook_sent_at__isnull=True).update(
        webhook_sent_at=clock.now()
    )
    if not claimed:
        return False
    status = post_json(job.webhook_url, payload(job, phase))
    log.info("sandbox: webhook of %s → %s", job, status or "not delivered")
    return True


def deliver_due(provider: str, payload: Payload) -> int:
    """Catch up on a few finished jobs whose webhook has not gone out."""
    since = clock.now() - timedelta(days=1)
    pending = SandboxJob.objects.filter(
        provider=provider, webhook_sent_at__isnull=True, created_at__gte=since
    ).exclude(webhook_url="")
    sent = 0
    for job in pending.order_by("created_at")[: CATCH_UP_LIMIT * 4]:
        if progress.clock_phase(job) in progress.TERMINAL and deliver(job, payload):
            sent += 1
            if sent >= CATCH_UP_LIMIT:
                break
    return sent


def schedule(job: SandboxJob, payload: Payload) -> None:
    """Fire the webhook from a timer thread when the job is due (SANDBOX_WEBHOOK_TIMERS)."""
    if not getattr(settings, "SANDBOX_WEBHOOK_TIMERS", True) or not job.webhook_url:
        return
    delay = job.duration_seconds + TIMER_SLACK_SECONDS
    timer = threading.Timer(delay, _fire, args=(job.pk, payload))
    timer.daemon = True
    timer.start()


def _fire(pk: int, payload: Payload) -> None:
    try:
        job = SandboxJob.objects.filter(pk=pk).first()
        if job is not None:
            deliver(job, payload)
    except Exception:  # a timer thread has nobody to report to but the log
        log.exception("sandbox: webhook timer for job %s failed", pk)
    finally:
        connection.close()
