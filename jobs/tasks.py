"""django-q2 task entry points. Thin on purpose: all logic lives in jobs.engine."""

from __future__ import annotations

from jobs import engine


def process_job(job_id: int) -> None:
    engine.process_job(job_id)


def reconcile() -> int:
    """Scheduled backstop in case no ticker runs: recover stuck jobs, wake due ones."""
    return engine.reconcile() + engine.wake_due_jobs()
