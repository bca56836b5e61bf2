"""Helpers for the engine tests: sandbox accounts, provider-side sources, driving jobs inline.

Inline tests call `engine.process_job` in the test process against the live sandbox, so
each step is deterministic; the worker tests in test_kill.py run the real thing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.db.models import F

from jobs import engine, services
from jobs.models import LedgerEntry, ProviderAccount, Team, UpscaleJob
from jobs.providers.registry import get_provider_class
from sandbox import log as sandbox_log
from sandbox.models import SandboxJob
from tests.factories import source

TERMINAL = {"succeeded", "failed", "canceled", "lost", "unknown"}


@pytest.fixture
def sandbox(live_server: Any, settings: Any, team: Team) -> str:
    """The live server as every sandbox account's provider; no webhook timer threads."""
    settings.SANDBOX_BASE_URL = live_server.url
    settings.SANDBOX_WEBHOOK_TIMERS = False
    services.ensure_sandbox_accounts(team)
    return live_server.url


def account(team: Team, provider: str) -> ProviderAccount:
    return ProviderAccount.objects.get(team=team, provider=provider, is_sandbox=True)


def adapter(team: Team, provider: str) -> Any:
    """The real adapter with the sandbox account's key and URL, as the engine builds it."""
    acc = account(team, provider)
    return engine.provider_for(UpscaleJob(provider=provider, account=acc))


def useapi_reference(team: Team) -> dict[str, Any]:
    """A completed Dreamina generation at the fake useapi.net: the input an upscale needs."""
    reference = adapter(team, "useapi").generate_source("a lighthouse at dusk")
    age(60, kind="generation")
    return reference


def age(seconds: float, **filters: Any) -> None:
    """Move sandbox jobs back in time instead of sleeping: their status moves on."""
    SandboxJob.objects.filter(**filters).update(
        created_at=F("created_at") - timedelta(seconds=seconds)
    )


def submit(team: Team, user: Any, provider: str, **kw: Any) -> UpscaleJob:
    """One job through the real submit service (reservation, event, queued on commit)."""
    options = kw.pop("options", {})
    if "reference" not in kw and "source" not in kw:
        kw["source"] = source(team, user)
    spec = services.JobSpec(provider=provider, options=options, **kw)
    return services.submit_jobs(team, user, [spec])[0]


def step(job: UpscaleJob) -> UpscaleJob:
    """Run the job's next step now, whatever its next_action_at says."""
    engine.process_job(job.pk)
    job.refresh_from_db()
    return job


def drive(job: UpscaleJob, *, max_steps: int = 12) -> UpscaleJob:
    """Step a job to its end, aging its provider-side job so waiting takes no time."""
    for _ in range(max_steps):
        if job.status in TERMINAL:
            return job
        if job.status == "waiting":
            age(120, provider=job.provider, kind="upscale")
        step(job)
    raise AssertionError(f"Job still {job.status} after {max_steps} steps: {events(job)}")


def events(job: UpscaleJob) -> list[str]:
    return [f"{kind}: {message}" for kind, message in job.events.values_list("kind", "message")]


def creates(job: UpscaleJob, *, accepted_only: bool = False) -> int:
    """Create calls the fake provider received for this job (our id is the client ref)."""
    ref = _client_ref(job)
    return sandbox_log.creates(job.provider, client_ref=ref, accepted_only=accepted_only).count()


def _client_ref(job: UpscaleJob) -> str:
    # useapi echoes replyRef (our id); AI/ML API gets it as X-Client-Request-Id.
    return str(job.public_id)


def charges(job: UpscaleJob) -> int:
    return LedgerEntry.objects.filter(job=job, kind="capture").count()


def held(job: UpscaleJob) -> set[str]:
    return set(LedgerEntry.objects.filter(job=job).values_list("kind", flat=True))


@pytest.fixture
def shorten_deadline(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, int], None]:
    def _shorten(provider: str, seconds: int) -> None:
        monkeypatch.setattr(get_provider_class(provider), "deadline_seconds", seconds)

    return _shorten
