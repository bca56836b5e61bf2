"""How a fake job moves on: by time, worked out lazily whenever someone looks at it.

No background process: a job's phase is a function of its creation time, its duration
(the `async_seconds` knob when it was created), its fate and an optional admin override.
The first look after it finishes renders and stores its results.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest

from sandbox import clock
from sandbox.images import ImageProblem, Rendered
from sandbox.knobs import Knobs
from sandbox.models import Fate, Phase, SandboxJob, SandboxResult
from sandbox.results import origin_of, save_results

log = logging.getLogger(__name__)

Renderer = Callable[[SandboxJob], list[Rendered]]
_RENDERERS: dict[tuple[str, str], Renderer] = {}
TERMINAL = frozenset({Phase.COMPLETED, Phase.FAILED, Phase.CANCELLED})


def renderer(provider: str, kind: str) -> Callable[[Renderer], Renderer]:
    """Register the function that makes a finished job's pictures."""

    def register(func: Renderer) -> Renderer:
        _RENDERERS[(provider, kind)] = func
        return func

    return register


def decide_fate(external_id: str, knobs: Knobs) -> str:
    """Stuck, failing or completing. Failures are picked by a hash of the id, so a given
    failure_rate fails the same jobs every run (1.0 fails all, 0 none)."""
    if knobs.stuck:
        return Fate.STUCK
    return Fate.FAIL if fails(external_id, knobs.failure_rate) else Fate.COMPLETE


def fails(external_id: str, rate: float) -> bool:
    """Whether this job is one of the `rate` fraction that fail (stable per id)."""
    if rate <= 0 or rate >= 1:
        return rate >= 1
    digest = int(hashlib.sha256(external_id.encode()).hexdigest()[:8], 16)
    return digest / 0xFFFFFFFF < rate


def create_job(
    request: HttpRequest,
    *,
    provider: str,
    kind: str,
    external_id: str,
    knobs: Knobs,
    synchronous: bool = False,
    **fields: Any,
) -> SandboxJob:
    """A new provider-side job. Synchronous jobs are finished at birth."""
    fate = Fate.COMPLETE if synchronous else decide_fate(external_id, knobs)
    return SandboxJob.objects.create(
        provider=provider,
        kind=kind,
        external_id=external_id,
        fate=fate,
        duration_seconds=0.0 if synchronous else max(0.0, knobs.async_seconds),
        origin=origin_of(request),
        created_at=clock.now(),
        **fields,
    )


def finishes_at(job: SandboxJob) -> datetime:
    return job.created_at + timedelta(seconds=job.duration_seconds)


def done_at(job: SandboxJob, now: datetime | None = None) -> datetime:
    """When the job (logically) finished: result URLs count their lifetime from here."""
    return min(now or clock.now(), finishes_at(job))


def fraction(job: SandboxJob, now: datetime | None = None) -> float:
    """How far along the job is, 0 to 1 (for progress fields)."""
    if job.duration_seconds <= 0:
        return 1.0
    elapsed = ((now or clock.now()) - job.created_at).total_seconds()
    return min(1.0, max(0.0, elapsed / job.duration_seconds))


def clock_phase(job: SandboxJob, now: datetime | None = None) -> Phase:
    """The phase from the clock alone: queued for the first third, then running, then done."""
    if job.status_override:
        return Phase(job.status_override)
    if job.fate == Fate.STUCK:
        return Phase.QUEUED
    elapsed = ((now or clock.now()) - job.created_at).total_seconds()
    if elapsed < job.duration_seconds / 3:
        return Phase.QUEUED
    if elapsed < job.duration_seconds:
        return Phase.RUNNING
    return Phase.FAILED if job.fate == Fate.FAIL or job.error else Phase.COMPLETED


def settle(job: SandboxJob, now: datetime | None = None) -> Phase:
    """The job's phase, rendering its results the first time it is seen completed."""
    phase = clock_phase(job, now)
    if phase != Phase.COMPLETED or job.results.exists():
        return phase
    func = _RENDERERS.get((job.provider, job.kind))
    if func is None:
        return _fail(job, "The sandbox cannot render this kind of job.")
    try:
        save_results(job, func(job))
    except (ImageProblem, OSError) as exc:
        log.warning("sandbox: rendering %s failed: %s", job, exc)
        return _fail(job, f"Processing failed: {exc}")
    return Phase.COMPLETED


def _fail(job: SandboxJob, message: str) -> Phase:
    SandboxJob.objects.filter(pk=job.pk, error="").update(error=message)
    job.refresh_from_db(fields=["error"])
    return Phase.FAILED


def results_of(job: SandboxJob) -> list[SandboxResult]:
    return list(job.results.order_by("index"))


def cancel(job: SandboxJob, now: datetime | None = None) -> bool:
    """Cancel a job that has not finished; False when it already has."""
    if clock_phase(job, now) in TERMINAL:
        return False
    SandboxJob.objects.filter(pk=job.pk).update(status_override=Phase.CANCELLED)
    job.status_override = Phase.CANCELLED
    return True
