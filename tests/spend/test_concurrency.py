"""Concurrent submits against one budget never push spend past its limit.

8 processes on SQLite (each its own connection and interpreter), 16 threads on PostgreSQL.
Afterwards the ledger, the budget's usage row and the dashboard all show the same figure.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from jobs import ledger, services, spend
from jobs.models import BudgetUsage, JobStatus, LedgerKind, UpscaleJob
from tests.conftest import ROOT, database_url
from tests.factories import source
from tests.spend.helpers import budget, total

IDEOGRAM = 60_000
LIMIT_USD = "1.50"  # 25 jobs
BATCH = 2
BATCHES = 8  # per submitter: 8 x 16 jobs wanted in total, far more than the budget allows


def check_the_books(client: Any, team: Any, user: Any, submitted: int) -> None:
    """The limit held, the budget was used up, and every figure agrees."""
    limit = int(float(LIMIT_USD) * 1_000_000)
    reserved = total(LedgerKind.RESERVE, team=team)
    usage = BudgetUsage.objects.get(budget__team=team)
    assert submitted == UpscaleJob.objects.filter(team=team).count()
    assert reserved == submitted * IDEOGRAM == usage.used_micros
    assert reserved <= limit
    assert limit - reserved < BATCH * IDEOGRAM  # refusals only once it was really full
    for job in UpscaleJob.objects.filter(team=team):  # the provider charges each estimate
        ledger.capture(job, spend.estimate_for(job))
        ledger.settle(job, JobStatus.SUCCEEDED)
    usage.refresh_from_db()
    charged = total(LedgerKind.CAPTURE, team=team) - total(LedgerKind.REFUND, team=team)
    assert charged == reserved == usage.used_micros
    client.force_login(user)
    page = client.get(reverse("jobs:spend_dashboard")).content.decode()
    assert f'data-testid="spend-total">${charged / 1_000_000:.2f}<' in page


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the process race is the SQLite test")
def test_eight_processes_never_overspend_on_sqlite(
    transactional_db: Any, client: Any, team: Any, user: Any, tmp_path: Path
) -> None:
    services.ensure_sandbox_accounts(team)
    budget(team, LIMIT_USD)
    picture = source(team, user)
    start = tmp_path / "go"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "DATABASE_URL": database_url(),
        "UPSCALER_DATA_DIR": str(settings.DATA_DIR),
        "DB_CONN_MAX_AGE": "0",
    }
    args = [str(a) for a in (team.pk, user.pk, picture.pk, BATCHES, BATCH, start)]
    command = [sys.executable, "-m", "tests.spend.submit_worker", *args]
    workers = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(8)
    ]
    start.touch()
    results = [json.loads(w.communicate(timeout=120)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    assert sum(r["refused"] for r in results) > 0
    check_the_books(client, team, user, sum(r["accepted"] for r in results))


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="16 threads need PostgreSQL (run with DATABASE_URL=postgres://...)",
)
def test_sixteen_threads_never_overspend_on_postgresql(
    transactional_db: Any, client: Any, team: Any, user: Any
) -> None:
    services.ensure_sandbox_accounts(team)
    budget(team, LIMIT_USD)
    spec = services.JobSpec(provider="ideogram", options={}, source=source(team, user))
    start = threading.Barrier(16)
    accepted: list[int] = []

    def submitter() -> None:
        try:
            start.wait()
            for _ in range(BATCHES):
                with contextlib.suppress(services.BudgetExceeded):  # a refusal is expected
                    accepted.append(len(services.submit_jobs(team, user, [spec] * BATCH)))
        finally:
            connection.close()

    threads = [threading.Thread(target=submitter) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    check_the_books(client, team, user, sum(accepted))
