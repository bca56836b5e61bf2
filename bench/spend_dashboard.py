"""Benchmark: the spend dashboard for a team with 100,000 jobs and 300,000 ledger entries.

    .venv/bin/python bench/spend_dashboard.py            # a throw-away SQLite database
    BENCH_DATABASE_URL=postgres://USER@HOST:5432/upscaler_bench \
        .venv/bin/python bench/spend_dashboard.py        # PostgreSQL (the database is emptied)

It builds the data with bulk_create (jobs, results and ledger entries spread over 90 days),
then requests the dashboard through Django's test client, so the time is the server's time
for the whole request: queries, aggregation and template rendering. It is measured at
10,000 jobs and again at 100,000, to show that the number of SQL queries does not grow
with the data. Target: under 200 ms at 100,000 jobs.
"""

from __future__ import annotations

import atexit
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DAYS = 90
RUNS = 15
USERS = 5
PLAIN_STATIC = "django.contrib.staticfiles.storage.StaticFilesStorage"


def configure() -> None:
    """Production-like settings (DEBUG off) on a private data dir, then django.setup()."""
    import secrets

    data_dir = tempfile.mkdtemp(prefix="upscaler-bench-spend-")
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)  # a 100 MB database
    os.environ.update(
        DJANGO_SETTINGS_MODULE="upscaler_site.settings",
        UPSCALER_DATA_DIR=data_dir,
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
    storages = {**settings.STORAGES, "staticfiles": {"BACKEND": PLAIN_STATIC}}
    override_settings(STORAGES=storages).enable()


def prepare_database() -> None:
    from django.core.management import call_command

    call_command("flush", interactive=False, verbosity=0) if _has_tables() else None
    call_command("migrate", verbosity=0)


def _has_tables() -> bool:
    from django.db import connection

    return "jobs_team" in connection.introspection.table_names()


@contextmanager
def historical_dates(*models: Any) -> Iterator[None]:
    """Let bulk_create keep the created_at we give (auto_now_add would overwrite it)."""
    fields = [model._meta.get_field("created_at") for model in models]
    for item in fields:
        item.auto_now_add = False
    try:
        yield
    finally:
        for item in fields:
            item.auto_now_add = True


# ----- data ---------------------------------------------------------------------------------
def make_team() -> tuple[Any, list[Any], dict[str, Any]]:
    from django.contrib.auth import get_user_model

    from jobs import services
    from jobs.models import BudgetScope

    User = get_user_model()
    users = [User.objects.create_user(f"user{n}", password="bench-pass-1") for n in range(USERS)]
    team = services.create_team("Bench studio", users[0])
    for user in users[1:]:
        team.memberships.create(user=user, role="member")
    accounts = {a.provider: a for a in services.ensure_sandbox_accounts(team)}
    from jobs import spend

    spend.save_budget(team, scope=BudgetScope.TEAM, limit_micros=10**12, warn_percent=80)
    spend.save_budget(
        team, scope=BudgetScope.PROVIDER, provider="ideogram", limit_micros=10**11, warn_percent=80
    )
    return team, users, accounts


PROVIDER_COSTS = {  # slug: (credits, usd micros) of one job
    "aimlapi": (Decimal(120_000), 60_000),
    "ideogram": (Decimal(1), 60_000),
    "imagineapi": (Decimal(10), 100_000),
    "useapi": (Decimal(30), 0),
    "uwear": (Decimal(1), 0),
}


def fate(n: int) -> str:
    """Most jobs succeed; a few fail, get refunded, stay unknown or lose their result.

    The mix averages exactly three ledger entries per job (see entries_for).
    """
    return {
        0: "unknown",
        1: "failed",
        2: "refunded",
        3: "refunded",
        4: "refunded",
        5: "lost",
    }.get(n % 100, "succeeded")


def add_jobs(team: Any, users: list[Any], accounts: dict[str, Any], start: int, count: int) -> None:
    from django.utils import timezone

    from jobs.models import LedgerEntry, ResultImage, UpscaleJob

    now = timezone.now()
    slugs = list(PROVIDER_COSTS)
    batch = 5000
    with historical_dates(UpscaleJob, LedgerEntry, ResultImage):
        for offset in range(start, start + count, batch):
            numbers = range(offset, min(offset + batch, start + count))
            jobs = [_job(team, users, accounts, slugs, n, now, start + count) for n in numbers]
            UpscaleJob.objects.bulk_create(jobs, batch_size=1000)
            entries = [e for n, job in zip(numbers, jobs, strict=True) for e in entries_for(job, n)]
            LedgerEntry.objects.bulk_create(entries, batch_size=2000)
            results = [
                ResultImage(job=job, team=team, width=2048, height=2048, created_at=job.created_at)
                for n, job in zip(numbers, jobs, strict=True)
                if fate(n) == "succeeded"
            ]
            ResultImage.objects.bulk_create(results, batch_size=2000)


def _job(
    team: Any, users: list[Any], accounts: dict, slugs: list[str], n: int, now: Any, total: int
) -> Any:
    from jobs.models import JobStatus, UpscaleJob

    slug = "imagineapi" if fate(n) == "refunded" else slugs[n % len(slugs)]
    created = now - timedelta(seconds=DAYS * 86400 * (total - n) / total)
    status = {
        "unknown": JobStatus.UNKNOWN,
        "failed": JobStatus.FAILED,
        "refunded": JobStatus.FAILED,
        "lost": JobStatus.LOST,
    }.get(fate(n), JobStatus.SUCCEEDED)
    return UpscaleJob(
        team=team,
        created_by=users[n % len(users)],
        provider=slug,
        account=accounts[slug],
        options={},
        status=status,
        provider_job_id=f"bench-{n}",
        created_at=created,
        finished_at=created + timedelta(seconds=30),
    )


def entries_for(job: Any, n: int) -> list[Any]:
    from jobs.models import LedgerEntry

    credits, usd = PROVIDER_COSTS[job.provider]
    kinds = {
        "unknown": ["reserve"],
        "failed": ["reserve", "release"],
        "refunded": ["reserve", "capture", "refund", "release"],
    }.get(fate(n), ["reserve", "capture", "release"])
    return [
        LedgerEntry(
            team_id=job.team_id,
            job=job,
            user_id=job.created_by_id,
            provider=job.provider,
            kind=kind,
            credits=credits,
            usd_micros=usd,
            source="price_table",
            created_at=job.created_at + timedelta(seconds=step * 10),
        )
        for step, kind in enumerate(kinds)
    ]


# ----- measuring ----------------------------------------------------------------------------
def measure(client: Any, url: str) -> dict[str, Any]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, secure=True)  # warm-up: template loading, connection
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        response = client.get(url, secure=True)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.status_code
    with CaptureQueriesContext(connection) as queries:
        client.get(url, secure=True)
    times.sort()
    return {
        "median_ms": statistics.median(times),
        "p95_ms": times[int(len(times) * 0.95) - 1],
        "queries": len(queries),
    }


def database_version() -> str:
    from django.db import connection

    if connection.vendor == "sqlite":
        return f"SQLite {connection.Database.sqlite_version}"
    version = connection.pg_version
    return f"PostgreSQL {version // 10000}.{version % 10000}"


def analyze_like_autovacuum() -> None:
    """PostgreSQL's autovacuum gathers statistics after big inserts; do it now, not later.

    SQLite gets nothing: the app never runs ANALYZE there, so neither does the benchmark.
    """
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def counts(team: Any) -> tuple[int, int]:
    from jobs.models import LedgerEntry, UpscaleJob

    return UpscaleJob.objects.filter(team=team).count(), LedgerEntry.objects.filter(
        team=team
    ).count()


def run(report: Callable[[str], None]) -> None:
    from django.test import Client
    from django.urls import reverse

    prepare_database()
    team, users, accounts = make_team()
    client = Client()
    client.force_login(users[0])
    pages = {
        "this month": reverse("jobs:spend_dashboard"),
        "last 90 days": reverse("jobs:spend_dashboard") + "?preset=90d",
    }
    report(f"database: {database_version()}")
    done = 0
    for target in (10_000, 100_000):
        started = time.perf_counter()
        add_jobs(team, users, accounts, done, target - done)
        done = target
        analyze_like_autovacuum()
        jobs, entries = counts(team)
        took = time.perf_counter() - started
        report(f"\n{jobs:,} jobs, {entries:,} ledger entries (built in {took:.0f} s)")
        for name, url in pages.items():
            found = measure(client, url)
            report(
                f"  {name:<13} median {found['median_ms']:6.1f} ms   p95 {found['p95_ms']:6.1f} ms"
                f"   {found['queries']} queries"
            )


def main() -> None:
    configure()
    cpu = platform.processor() or platform.machine()
    load = ", ".join(f"{n:.1f}" for n in os.getloadavg())
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    print(f"date: {time.strftime('%Y-%m-%d %H:%M %Z')}, load average before: {load}")
    run(print)


if __name__ == "__main__":
    main()
