"""Benchmark: the gallery of a team with 1,000 results beside a team with 50,000.

    .venv/bin/python bench/gallery.py                    # a throw-away SQLite database
    BENCH_DATABASE_URL=postgres://USER@HOST:5432/upscaler_bench \
        .venv/bin/python bench/gallery.py                # PostgreSQL (the database is emptied)

Both teams live in one database (so the big one also shows the queries stay scoped to a
team). Jobs and results are made with bulk_create (spread over 90 days, six providers,
five people, 1 % failed), then pages are requested through Django's test client with
DEBUG off, so each time is the server's whole request: middleware, queries and template
rendering. Each page is requested for the small and the big team in turn, so a busy
machine slows both sides alike: the newest page, a page half-way back, the oldest page,
and filtered pages. Keyset pagination means no page needs OFFSET or COUNT(*), so neither
the time nor the number of queries should grow with the number of results.
"""

from __future__ import annotations

import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SIZES = (1_000, 50_000)
DAYS = 90
RUNS = 20
PEOPLE = 5
PROVIDERS = ("local", "aimlapi", "ideogram", "uwear", "useapi", "imagineapi")


def configure() -> None:
    """Production-like settings (DEBUG off) on a private data dir, then django.setup()."""
    os.environ.update(
        DJANGO_SETTINGS_MODULE="upscaler_site.settings",
        UPSCALER_DATA_DIR=tempfile.mkdtemp(prefix="upscaler-bench-gallery-"),
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=secrets.token_urlsafe(32),
        ALLOWED_HOSTS="testserver",
        Q_CLUSTER_NAME="upscaler-bench",
    )
    if os.environ.get("BENCH_DATABASE_URL"):
        os.environ["DATABASE_URL"] = os.environ["BENCH_DATABASE_URL"]
    else:
        os.environ.pop("DATABASE_URL", None)
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import override_settings

    # No collectstatic for a benchmark: plain static URLs instead of the hashed manifest.
    plain = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    override_settings(STORAGES={**settings.STORAGES, "staticfiles": plain}).enable()


def prepare_database() -> None:
    from django.core.management import call_command
    from django.db import connection

    if "jobs_team" in connection.introspection.table_names():
        call_command("flush", interactive=False, verbosity=0)
    call_command("migrate", verbosity=0)


@contextmanager
def given_dates(*models: Any) -> Iterator[None]:
    """Let bulk_create keep the created_at we set (auto_now_add would overwrite it)."""
    fields = [model._meta.get_field("created_at") for model in models]
    for item in fields:
        item.auto_now_add = False
    try:
        yield
    finally:
        for item in fields:
            item.auto_now_add = True


# ----- data -----------------------------------------------------------------------------------
def make_team(name: str) -> tuple[Any, list[Any]]:
    from django.contrib.auth import get_user_model

    from jobs import services

    user_model = get_user_model()
    people = [
        user_model.objects.create_user(f"{name}-{n}", password="bench-pass-1")
        for n in range(PEOPLE)
    ]
    team = services.create_team(name, people[0])
    for person in people[1:]:
        team.memberships.create(user=person, role="member")
    return team, people


def add_results(team: Any, people: list[Any], start: int, count: int) -> None:
    """`count` more jobs spread over the last 90 days (so every size covers the same
    period and the same filters match), each succeeded one with a stored result."""
    from django.utils import timezone

    from jobs.models import ResultImage, UpscaleJob

    now, chunk = timezone.now(), 5000
    with given_dates(UpscaleJob, ResultImage):
        for offset in range(start, start + count, chunk):
            numbers = range(offset, min(offset + chunk, start + count))
            jobs = UpscaleJob.objects.bulk_create(
                [_job(team, people, n, now - _age(n - start, count)) for n in numbers],
                batch_size=1000,
            )
            results = [_result(team, job, n) for n, job in zip(numbers, jobs, strict=True)]
            ResultImage.objects.bulk_create([r for r in results if r], batch_size=2000)


def _age(position: int, count: int) -> timedelta:
    return timedelta(seconds=DAYS * 86400 * (count - position) / count)


def _job(team: Any, people: list[Any], n: int, created: Any) -> Any:
    from jobs.models import JobStatus, UpscaleJob

    failed = n % 100 == 7
    return UpscaleJob(
        team=team,
        created_by=people[n % PEOPLE],
        provider=PROVIDERS[n % len(PROVIDERS)],
        options={"scale": 2},
        status=JobStatus.FAILED if failed else JobStatus.SUCCEEDED,
        error_message="The provider refused the image." if failed else "",
        created_at=created,
        started_at=created,
        finished_at=created + timedelta(seconds=20),
    )


def _result(team: Any, job: Any, n: int) -> Any:
    from jobs.models import JobStatus, ResultImage

    if job.status != JobStatus.SUCCEEDED:
        return None
    return ResultImage(
        job=job,
        team=team,
        file=f"results/{team.pk}/bench-{n}.png",
        thumbnail=f"thumbs/{team.pk}/bench-{n}.webp",
        width=2048,
        height=1536,
        format="PNG",
        size_bytes=4_000_000,
        created_at=job.finished_at,
    )


def analyze() -> None:
    """Refresh the planner's statistics, as autovacuum (PostgreSQL) would after a bulk load;
    without them PostgreSQL guesses a handful of rows and sorts the whole team instead of
    walking the (team, created_at) index."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# ----- measuring ------------------------------------------------------------------------------
def pages(team: Any, people: list[Any]) -> dict[str, str]:
    """The URLs to time: first, middle and last pages, and three kinds of filter."""
    from django.urls import reverse
    from django.utils import timezone

    from jobs.models import UpscaleJob
    from jobs.views.gallery import NEWEST_FIRST, Cursor

    base = reverse("jobs:gallery")
    newest_first = UpscaleJob.objects.filter(team=team).order_by(*NEWEST_FIRST)
    total = newest_first.count()
    middle = Cursor.of(newest_first[total // 2])
    near_end = Cursor.of(newest_first[max(total - 20, 0)])
    month_ago = (timezone.localdate() - timedelta(days=30)).isoformat()
    return {
        "newest page": base,
        "half-way back": f"{base}?after={middle}",
        "oldest page": f"{base}?after={near_end}",
        "one provider": f"{base}?provider=ideogram",
        "person + 30 days": f"{base}?user={people[2].pk}&since={month_ago}",
        "failed only (1 %)": f"{base}?status=failed",
    }


def measure(client: Any, url: str) -> float:
    started = time.perf_counter()
    response = client.get(url, secure=True)
    assert response.status_code == 200, response.status_code
    return (time.perf_counter() - started) * 1000


def summary(times: list[float], client: Any, url: str) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        tiles = client.get(url, secure=True).content.count(b'<figure class="tile"')
    times = sorted(times)
    return {
        "best": times[0],
        "median": statistics.median(times),
        "p95": times[int(len(times) * 0.95) - 1],
        "queries": len(queries),
        "tiles": tiles,
    }


def compare(sides: list[tuple[Any, str]]) -> list[dict[str, Any]]:
    """Time one page for every side, taking turns, RUNS times each."""
    times: list[list[float]] = [[] for _ in sides]
    for client, url in sides:
        measure(client, url)  # warm-up: templates, connection, caches
    for _ in range(RUNS):
        for found, (client, url) in zip(times, sides, strict=True):
            found.append(measure(client, url))
    return [summary(found, *side) for found, side in zip(times, sides, strict=True)]


def query_plan(team: Any) -> str:
    """How the database answers the newest page (it should walk an index, not sort)."""
    from django.db import connection

    from jobs.models import UpscaleJob
    from jobs.views.gallery import NEWEST_FIRST

    query = UpscaleJob.objects.filter(team=team).order_by(*NEWEST_FIRST)[:49]
    sql, params = query.query.sql_with_params()
    explain = "EXPLAIN QUERY PLAN " if connection.vendor == "sqlite" else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(explain + sql, params)
        return "; ".join(str(row[-1]) for row in cursor.fetchall())


def run(report: Callable[[str], None]) -> None:
    from django.db import connection
    from django.test import Client

    prepare_database()
    version = connection.Database.sqlite_version if connection.vendor == "sqlite" else ""
    report(f"database: {connection.vendor} {version}".rstrip())
    sides = []
    for size in SIZES:
        started = time.perf_counter()
        team, people = make_team(f"team-{size}")
        add_results(team, people, 0, size)
        client = Client()
        client.force_login(people[0])
        sides.append((team, people, client))
        report(
            f"team with {size:,} jobs with results built in {time.perf_counter() - started:.0f} s"
        )
    analyze()
    names = [f"{size:,} results" for size in SIZES]
    report(f"\n  {'page':<18} {'results':>14} {'best':>9} {'median':>9} {'p95':>9} queries tiles")
    urls = [pages(team, people) for team, people, _ in sides]
    for page in urls[0]:
        found = compare([(client, u[page]) for (_, _, client), u in zip(sides, urls, strict=True)])
        for name, row in zip(names, found, strict=True):
            report(
                f"  {page:<18} {name:>14} {row['best']:6.1f} ms {row['median']:6.1f} ms"
                f" {row['p95']:6.1f} ms {row['queries']:>7} {row['tiles']:>5}"
            )
    for size, (team, _, _) in zip(SIZES, sides, strict=True):
        report(f"\nplan of the newest page, {size:,} results: {query_plan(team)}")


def main() -> None:
    configure()
    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    try:
        run(print)
    finally:
        shutil.rmtree(os.environ["UPSCALER_DATA_DIR"], ignore_errors=True)


if __name__ == "__main__":
    main()
