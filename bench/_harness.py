"""Shared set-up for the engine benchmarks.

Each run gets a scratch data dir (and, for PostgreSQL, a scratch database) so it never
touches anything else; the sandbox is served by `manage.py runserver` on a free port and
the worker is the real `manage.py run_worker`, both started as child processes with the
same environment as the benchmark process.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
TERMINAL = ("succeeded", "failed", "canceled", "lost", "unknown")


@dataclass
class Scratch:
    """One benchmark's private world: data dir, database, ports and child processes."""

    name: str
    data_dir: Path
    port: int
    env: dict[str, str]
    pg_database: str = ""
    children: list[subprocess.Popen] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def configure(name: str, *, backend: str = "sqlite", **extra: str) -> Scratch:
    """Point this process at a fresh data dir and database, set Django up, migrate.

    backend: "sqlite" (ORM broker), "postgres" (ORM broker) or "postgres+redis".
    """
    data_dir = Path(tempfile.mkdtemp(prefix=f"upscaler-bench-{name}-"))
    port = free_port()
    env = {
        "DJANGO_SETTINGS_MODULE": "upscaler_site.settings",
        "UPSCALER_DATA_DIR": str(data_dir),
        # Production settings (no query logging), with the sandbox switched on explicitly.
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "FIELD_ENCRYPTION_KEYS": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SANDBOX_ENABLED": "true",
        "SANDBOX_BASE_URL": f"http://127.0.0.1:{port}",
        "PORT": str(port),
        "Q_CLUSTER_NAME": f"bench-{name}-{os.getpid()}",
        "LOG_LEVEL": "WARNING",
        "DATABASE_URL": "",
        "REDIS_URL": "",
        **extra,
    }
    scratch = Scratch(name=name, data_dir=data_dir, port=port, env=env)
    if backend.startswith("postgres"):
        scratch.pg_database = f"upscaler_bench_{name}_{secrets.token_hex(3)}"
        env["DATABASE_URL"] = _create_pg_database(scratch.pg_database)
    if backend.endswith("redis"):
        env["REDIS_URL"] = REDIS_URL
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return scratch


def _create_pg_database(name: str) -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(PG_ADMIN_URL)
    return f"{parts.scheme}://{parts.netloc}/{name}"


def _drop_pg_database(name: str) -> None:
    import psycopg
    from django.db import connections

    connections.close_all()
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _spawn(scratch: Scratch, args: list[str], log_name: str, **env: str) -> subprocess.Popen:
    log = (scratch.data_dir / log_name).open("ab")
    child = subprocess.Popen(
        [sys.executable, *args],
        cwd=ROOT,
        env={**os.environ, **scratch.env, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    scratch.children.append(child)
    return child


def start_web(scratch: Scratch) -> None:
    """The sandbox over real HTTP: gunicorn, 2 processes x 8 threads.

    Threads that live on keep their database connections; a thread per request (as in
    runserver) would open a PostgreSQL connection for every fake provider call.
    """
    bind = f"127.0.0.1:{scratch.port}"
    command = ["-m", "gunicorn", "upscaler_site.wsgi", "-b", bind, "-k", "gthread"]
    _spawn(scratch, [*command, "-w", "2", "--threads", "8"], "web.log")
    import httpx

    def answers() -> bool:
        try:
            return httpx.get(f"{scratch.base_url}/sandbox/", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    wait_for(answers, 60, "the web server to answer")


def start_worker(scratch: Scratch, *, workers: int = 2, **env: str) -> None:
    """`manage.py run_worker`; returns once its ticker has written a heartbeat."""
    from jobs.models import WorkerHeartbeat

    _spawn(scratch, ["manage.py", "run_worker"], "worker.log", WORKERS=str(workers), **env)
    wait_for(WorkerHeartbeat.objects.exists, 60, "the worker to start")


def stop_all(scratch: Scratch, *, keep: bool = False) -> None:
    for child in scratch.children:
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
    for child in scratch.children:
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
    if scratch.pg_database:
        _drop_pg_database(scratch.pg_database)
    if not keep:
        shutil.rmtree(scratch.data_dir, ignore_errors=True)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise SystemExit(f"Timed out waiting for {what}.")


# ----- the team and its jobs -----------------------------------------------------------------
def sandbox_team(max_in_flight: int) -> tuple[Any, Any]:
    """A user and a team with sandbox accounts allowing `max_in_flight` jobs each."""
    from django.contrib.auth import get_user_model

    from jobs import services
    from jobs.models import ProviderAccount

    user = get_user_model().objects.create_user("bench", password=secrets.token_urlsafe(12))
    team = services.create_team("Bench", user)
    services.ensure_sandbox_accounts(team)
    ProviderAccount.objects.filter(team=team).update(max_in_flight=max_in_flight)
    return user, team


def upload(team: Any, user: Any, size: tuple[int, int] = (64, 48)) -> Any:
    """A small real picture with some structure, ingested like an upload."""
    import io

    from PIL import Image, ImageDraw

    from jobs import services

    image = Image.new("RGB", size, (30, 90, 160))
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], 16):
        draw.line([(x, 0), (size[0] - x, size[1])], fill=(240, 200, 40), width=2)
    data = io.BytesIO()
    image.save(data, "PNG")
    data.seek(0)
    return services.ingest_upload(team, user, data, "bench.png")


def wait_done(job_ids: Iterable[int], timeout: float) -> float:
    """Seconds until every job is terminal (polling the database every 50 ms)."""
    from jobs.models import UpscaleJob

    ids = list(job_ids)
    started = time.monotonic()
    pending = UpscaleJob.objects.filter(pk__in=ids).exclude(status__in=TERMINAL)
    wait_for(lambda: not pending.exists(), timeout, f"{len(ids)} jobs to finish")
    return time.monotonic() - started


def outcome_counts(job_ids: Iterable[int]) -> dict[str, int]:
    from django.db.models import Count

    from jobs.models import UpscaleJob

    rows = UpscaleJob.objects.filter(pk__in=list(job_ids)).values("status").annotate(n=Count("pk"))
    return {row["status"]: row["n"] for row in rows}


# ----- reporting ----------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "memory_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        # The machine may be shared: how busy it was when the figure was taken.
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def report(name: str, figures: dict[str, Any]) -> None:
    """One JSON line per result on stdout (docs/benchmarks.md quotes them)."""
    print(json.dumps({"bench": name, **figures}, default=str), flush=True)


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))
    return ordered[index]
