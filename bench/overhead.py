"""Benchmark 3: what the pipeline adds to the work it wraps, per job, in the same run.

    .venv/bin/python -m bench.overhead [--jobs 60] [--size 512x384]

Two ways to upscale the same upload through the sandbox Ideogram (synchronous, no
latency), interleaved so both see the same machine:

- bare: the adapter's create call, the result download and the thumbnail, nothing else;
- pipeline: `submit_jobs` plus `engine.process_job`, inline (no queue): validation,
  reservation, events, the claim and lease, the same create and download, the image
  checks, storing result and thumbnail, settling the ledger.

The difference is the engine's own cost per job. The queue's dispatch latency is not in
it (benchmark 2 measures jobs end to end through real workers).
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

from bench import _harness as h


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=60)
    parser.add_argument("--size", default="512x384")
    args = parser.parse_args(argv)
    width, height = (int(n) for n in args.size.split("x"))
    scratch = h.configure("overhead")
    try:
        h.start_web(scratch)
        run(args.jobs, (width, height))
    finally:
        h.stop_all(scratch)


def run(count: int, size: tuple[int, int]) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    user, team = h.sandbox_team(max_in_flight=10)
    source = h.upload(team, user, size)
    bare_times, pipe_times, queries = [], [], []
    for index in range(count + 3):
        bare = bare_call(team, source)
        with CaptureQueriesContext(connection) as captured:
            pipe = pipeline(team, user, source)
        if index >= 3:  # the first rounds warm caches and connections
            bare_times.append(bare)
            pipe_times.append(pipe)
            queries.append(len(captured.captured_queries))
    h.report("overhead", figures(bare_times, pipe_times, queries, count, size))


def bare_call(team: Any, source: Any) -> float:
    """Create, download and thumbnail with no engine around them."""
    from jobs import engine, imaging, outbound
    from jobs.models import UpscaleJob
    from jobs.providers.base import InputKind, JobRequest, SourceInput

    job = UpscaleJob(provider="ideogram", account=team.provider_accounts.get(provider="ideogram"))
    provider = engine.provider_for(job)
    with source.file.open("rb") as fh:
        data = fh.read()
    started = time.perf_counter()
    image = SourceInput(kind=InputKind.UPLOAD, data=data, content_type="image/png")
    outcome = provider.submit(JobRequest(job_id="bench", options={}, source=image))
    fetched = outbound.download(outcome.results[0].url, max_bytes=10**8, deadline_seconds=60)
    imaging.thumbnail_webp(fetched.file, max_pixels=provider.max_result_pixels)
    return time.perf_counter() - started


def pipeline(team: Any, user: Any, source: Any) -> float:
    from jobs import engine, services

    started = time.perf_counter()
    spec = services.JobSpec(provider="ideogram", options={}, source=source)
    job = services.submit_jobs(team, user, [spec])[0]
    engine.process_job(job.pk)
    elapsed = time.perf_counter() - started
    job.refresh_from_db()
    assert job.status == "succeeded", job.error_message
    return elapsed


def figures(
    bare: list[float], pipe: list[float], queries: list[int], count: int, size: tuple[int, int]
) -> dict[str, Any]:
    def ms(values: list[float]) -> float:
        return round(statistics.median(values) * 1000, 1)

    extra = [p - b for p, b in zip(pipe, bare, strict=True)]
    return {
        "jobs": count,
        "source": f"{size[0]}x{size[1]} PNG, result {2 * size[0]}x{2 * size[1]}",
        "bare_ms_median": ms(bare),
        "pipeline_ms_median": ms(pipe),
        "overhead_ms_median": ms(extra),
        "overhead_ms_p90": round(h.percentile(extra, 90) * 1000, 1),
        "queries_per_job": statistics.median(queries),
        "machine": h.machine(),
    }


if __name__ == "__main__":
    main()
