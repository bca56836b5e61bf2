"""Benchmark 2: jobs per second through the whole pipeline when the provider is instant.

    .venv/bin/python -m bench.throughput [--jobs 300] [--workers 2] [--backends sqlite,postgres]

Zero-latency jobs: the sandbox Ideogram (synchronous, `latency_seconds` 0) upscales a
64x48 upload to 128x96, so nearly all the time is the engine's own: queue, claim, events,
ledger, the create, the result download, storing, thumbnailing. Each backend runs in its
own process with its own scratch database: SQLite with the ORM broker, PostgreSQL with
the ORM broker, and PostgreSQL with Redis as the broker. PostgreSQL needs a server at
BENCH_PG_ADMIN_URL (default postgres://postgres@127.0.0.1:5432/postgres) to create and
drop a scratch database; Redis is read from BENCH_REDIS_URL.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from bench import _harness as h

BACKENDS = ("sqlite", "postgres", "postgres+redis")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--child", choices=BACKENDS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args)
        return
    for backend in args.backends.split(","):
        # One process per backend: Django's settings are fixed once set up.
        command = [sys.executable, "-m", "bench.throughput", "--child", backend]
        command += ["--jobs", str(args.jobs), "--workers", str(args.workers)]
        subprocess.run(command, cwd=h.ROOT, check=True)


def child(args: argparse.Namespace) -> None:
    scratch = h.configure(f"tp{args.child.replace('+', '')}", backend=args.child)
    try:
        h.start_web(scratch)
        figures = run(scratch, args.jobs, args.workers)
        h.report("throughput", {"backend": args.child, **figures, "machine": h.machine()})
    finally:
        h.stop_all(scratch)


def run(scratch: h.Scratch, count: int, workers: int) -> dict[str, object]:
    from jobs import services

    user, team = h.sandbox_team(max_in_flight=count)
    source = h.upload(team, user)
    h.start_worker(scratch, workers=workers)
    warm_up(team, user, source)
    spec = services.JobSpec(provider="ideogram", options={}, source=source)
    started = time.monotonic()
    jobs = services.submit_jobs(team, user, [spec] * count)
    elapsed = time.monotonic() - started
    elapsed += h.wait_done([job.pk for job in jobs], timeout=900)
    return {
        "jobs": count,
        "workers": workers,
        "seconds": round(elapsed, 1),
        "jobs_per_second": round(count / elapsed, 1),
        "statuses": json.dumps(h.outcome_counts(job.pk for job in jobs)),
    }


def warm_up(team: object, user: object, source: object) -> None:
    """A few jobs first, so process start-up and first imports are not in the figure."""
    from jobs import services

    spec = services.JobSpec(provider="ideogram", options={}, source=source)
    jobs = services.submit_jobs(team, user, [spec] * 4)
    h.wait_done([job.pk for job in jobs], timeout=120)


if __name__ == "__main__":
    main()
