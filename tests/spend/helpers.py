"""Helpers for the spend tests: scripted providers that drive the real engine, money sums.

A scripted provider is the job's real adapter class (same prices, refund rule, async or
not) whose `submit` and `poll` answer from a script instead of the network.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

from django.db.models import Sum
from django.utils import timezone

from jobs import engine, ledger, services
from jobs.models import (
    TERMINAL_STATUSES,
    Budget,
    BudgetScope,
    BudgetUsage,
    LedgerEntry,
    LedgerKind,
    SourceImage,
    Team,
    UpscaleJob,
)
from jobs.providers.base import (
    Cost,
    ErrorKind,
    JobState,
    Outcome,
    ProviderError,
    ResultRef,
)
from jobs.providers.registry import get_provider_class
from tests.conftest import image_bytes
from tests.factories import source

Script = Callable[[UpscaleJob, str], Outcome]
PNG = image_bytes("PNG", (16, 12))

# ----- outcomes a script returns ----------------------------------------------------------


def done(cost: Cost | None = None, *results: ResultRef) -> Outcome:
    return Outcome(
        state=JobState.SUCCEEDED,
        provider_job_id="",
        results=list(results) or [ResultRef(data=PNG)],
        cost=cost,
    )


def accepted(cost: Cost | None = None) -> Outcome:
    return Outcome(state=JobState.RUNNING, provider_job_id=f"p-{uuid.uuid4().hex[:8]}", cost=cost)


def running(cost: Cost | None = None) -> Outcome:
    return Outcome(state=JobState.RUNNING, cost=cost)


def failed(cost: Cost | None = None) -> Outcome:
    error = ProviderError("The provider could not upscale it.", kind=ErrorKind.PROVIDER)
    return Outcome(state=JobState.FAILED, error=error, cost=cost)


def transient() -> ProviderError:
    return ProviderError("Busy, try later.", kind=ErrorKind.TRANSIENT)


def unknown() -> ProviderError:
    return ProviderError("No answer after sending.", kind=ErrorKind.UNKNOWN_OUTCOME)


def unsafe() -> ResultRef:
    return ResultRef(url="", is_safe=False)


def reported(usd_micros: int, credits: int | str = 0) -> Cost:
    return Cost(credits=Decimal(credits), usd_micros=usd_micros, source="reported")


# ----- the scripted provider ----------------------------------------------------------------
class Scripts:
    """Answers per job: a list of outcomes/errors consumed one call at a time."""

    def __init__(self) -> None:
        self.answers: dict[int, list[Any]] = defaultdict(list)

    def plan(self, job: UpscaleJob, *answers: Any) -> None:
        self.answers[job.pk] = list(answers)

    def answer(self, job: UpscaleJob, call: str) -> Outcome:
        queue = self.answers[job.pk]
        item = queue.pop(0) if queue else _finished(job, call)
        if isinstance(item, Exception):
            raise item
        return item


def _finished(job: UpscaleJob, call: str) -> Outcome:
    """Once a script runs out, the provider finishes the job (so every job can end)."""
    cls = get_provider_class(job.provider)
    if cls.is_async and call == "submit":
        return accepted()
    return done()


def scripted_provider(job: UpscaleJob, script: Script) -> Any:
    real = get_provider_class(job.provider)

    class Scripted(real):  # type: ignore[valid-type, misc]
        def submit(self, request: Any) -> Outcome:
            return script(job, "submit")

        def poll(self, provider_job_id: str) -> Outcome:
            return script(job, "poll")

        def cancel(self, provider_job_id: str) -> bool:
            return False

    return Scripted(api_key="k", base_url="https://provider.invalid")


@contextmanager
def scripted(scripts: Scripts) -> Iterator[Scripts]:
    with mock.patch.object(
        engine, "provider_for", lambda job: scripted_provider(job, scripts.answer)
    ):
        yield scripts


def step(job: UpscaleJob) -> UpscaleJob:
    """Run the job's next step now, as a worker woken by the ticker would."""
    UpscaleJob.objects.filter(pk=job.pk).update(
        next_action_at=timezone.now(), lease_until=None, lease_token=""
    )
    engine.process_job(job.pk)
    job.refresh_from_db()
    return job


def run_to_end(job: UpscaleJob, limit: int = 12) -> UpscaleJob:
    for _ in range(limit):
        if job.status in TERMINAL_STATUSES:
            return job
        step(job)
    return job


# ----- jobs of any provider -------------------------------------------------------------------
REFERENCES = {
    "imagineapi": {"image_id": "0b8e7c44-5a0e-4c8e-9d1e-6b1b2f0c9a11", "index": 0},
    "useapi": {"jobid": "user:1-dreamina:abc", "imageIndex": 0},
}


def spec_for(team: Team, user: Any, provider: str, **options: Any) -> services.JobSpec:
    reference = REFERENCES.get(provider)
    picture: SourceImage | None = None if reference else source(team, user)
    return services.JobSpec(provider=provider, options=options, source=picture, reference=reference)


def submit(team: Team, user: Any, provider: str, count: int = 1, **options: Any) -> list:
    specs = [spec_for(team, user, provider, **options) for _ in range(count)]
    return services.submit_jobs(team, user, specs)


def budget(team: Team, limit_usd: str, *, warn: int = 80, **scope: Any) -> Budget:
    from jobs import spend

    kind = BudgetScope.PROVIDER if "provider" in scope else BudgetScope.TEAM
    kind = BudgetScope.USER if "user_id" in scope else kind
    micros = int(Decimal(limit_usd) * 1_000_000)
    return spend.save_budget(team, scope=kind, limit_micros=micros, warn_percent=warn, **scope)


# ----- sums -----------------------------------------------------------------------------------
def total(kind: str, **filters: Any) -> int:
    found = LedgerEntry.objects.filter(kind=kind, **filters).aggregate(s=Sum("usd_micros"))
    return found["s"] or 0


def used(budget_row: Budget) -> int:
    row = BudgetUsage.objects.filter(budget=budget_row).order_by("-month").first()
    return row.used_micros if row else 0


def kinds(job: UpscaleJob) -> dict[str, int]:
    return dict(LedgerEntry.objects.filter(job=job).values_list("kind", "usd_micros"))


def spent(job: UpscaleJob) -> int:
    return ledger.job_spend(job).usd_micros


@contextmanager
def frozen_now(at: datetime) -> Iterator[None]:
    """Pretend it is `at`: timezone.now() (and so every auto_now_add) returns it."""
    with mock.patch("django.utils.timezone.now", return_value=at):
        yield


def days_ago(n: float) -> datetime:
    return timezone.now() - timedelta(days=n)


__all__ = ["LedgerKind"]
