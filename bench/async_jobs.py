"""Benchmark 1: many asynchronous jobs in flight, few workers.

    .venv/bin/python -m bench.async_jobs [--jobs 200] [--seconds 10] [--workers 2]

200 useapi.net upscales (2k) are submitted at once to the sandbox, whose fake takes
`--seconds` (the `async_seconds` knob) to finish each one; 2 worker processes run them.
The figure is the time from submit until every job is done, result downloaded, stored
and thumbnailed. If waiting occupied a worker, 200 jobs x 10 s / 2 workers would take
1000 s; the target is under 30 s. The sandbox account allows all 200 in flight.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench import _harness as h


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    args = parser.parse_args(argv)
    scratch = h.configure("async", backend=args.backend)
    try:
        h.start_web(scratch)
        run(scratch, args)
    finally:
        h.stop_all(scratch)


def run(scratch: h.Scratch, args: argparse.Namespace) -> None:
    from jobs import services
    from sandbox import knobs

    user, team = h.sandbox_team(max_in_flight=args.jobs)
    reference = completed_generation(team)
    knobs.set_knobs("useapi", async_seconds=args.seconds)
    h.start_worker(scratch, workers=args.workers)
    spec = services.JobSpec(
        provider="useapi", options={"upscaleResolution": "2k"}, reference=reference
    )
    started = time.monotonic()
    jobs = services.submit_jobs(team, user, [spec] * args.jobs)
    submitted = time.monotonic() - started
    total = submitted + h.wait_done([job.pk for job in jobs], timeout=600)
    h.report("async_jobs", {**summary(jobs), "jobs": args.jobs, "provider_seconds": args.seconds,
                            "workers": args.workers, "backend": args.backend,
                            "submit_seconds": round(submitted, 2), "total_seconds": round(total, 1),
                            "machine": h.machine()})  # fmt: skip


def completed_generation(team: Any) -> dict[str, Any]:
    """The completed Dreamina generation useapi.net upscales need as their input."""
    from datetime import timedelta

    from django.db.models import F

    from jobs import engine
    from jobs.models import ProviderAccount, UpscaleJob
    from sandbox.models import SandboxJob

    account = ProviderAccount.objects.get(team=team, provider="useapi")
    adapter = engine.provider_for(UpscaleJob(provider="useapi", account=account))
    reference = adapter.generate_source("a lighthouse at dusk")
    # Age it instead of waiting: the fake works its status out from the job's age.
    SandboxJob.objects.update(created_at=F("created_at") - timedelta(minutes=5))
    return reference


def summary(jobs: list[Any]) -> dict[str, Any]:
    """Per-job figures from the rows themselves: time to done, polls, statuses."""
    from jobs.models import UpscaleJob
    from sandbox import log

    rows = UpscaleJob.objects.filter(pk__in=[j.pk for j in jobs]).values(
        "created_at", "finished_at", "polls"
    )
    spans = [(r["finished_at"] - r["created_at"]).total_seconds() for r in rows if r["finished_at"]]
    return {
        "statuses": h.outcome_counts(j.pk for j in jobs),
        "creates_seen_by_provider": log.creates("useapi", accepted_only=True).count() - 1,
        "job_seconds_p50": round(h.percentile(spans, 50), 1),
        "job_seconds_p95": round(h.percentile(spans, 95), 1),
        "job_seconds_max": round(max(spans, default=0), 1),
        "polls_per_job": round(sum(r["polls"] for r in rows) / max(len(rows), 1), 2),
        "phases": phases(jobs),
    }


def phases(jobs: list[Any]) -> dict[str, str]:
    """When each timeline event happened, seconds after the first job was created:
    median and last, to show which step (if any) queues up behind the workers."""
    from jobs.models import JobEvent

    start = min(j.created_at for j in jobs)
    found: dict[str, list[float]] = {}
    for kind, at in JobEvent.objects.filter(job__in=jobs).values_list("kind", "at"):
        found.setdefault(kind, []).append((at - start).total_seconds())
    return {
        kind: f"p50 {h.percentile(times, 50):.1f} s, last {max(times):.1f} s"
        for kind, times in found.items()
    }


if __name__ == "__main__":
    main()
