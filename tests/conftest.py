"""Shared fixtures: users and teams, images, a real worker process, and Chromium."""

from __future__ import annotations

import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from PIL import Image

from jobs import services
from jobs.models import Team

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_MISSING = not Path(CHROMIUM).exists()


# ----- browser tests are skipped loudly without Chromium -----------------------------------
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not CHROMIUM_MISSING:
        return
    skip = pytest.mark.skip(reason=f"Chromium not found at {CHROMIUM}: browser tests skipped")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if CHROMIUM_MISSING:
        terminalreporter.section("BROWSER TESTS SKIPPED", sep="!", red=True, bold=True)
        terminalreporter.line(
            f"Chromium was not found at {CHROMIUM}, so every browser test was SKIPPED. "
            "Install it (apt-get install chromium) or set CHROMIUM_PATH.",
            red=True,
        )


# ----- people ---------------------------------------------------------------------------
@pytest.fixture
def user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("alice", password="pw-alice-123")


@pytest.fixture
def team(user: Any) -> Team:
    return services.create_team("Alice's studio", user)


@pytest.fixture
def other_user(django_user_model: Any) -> Any:
    return django_user_model.objects.create_user("mallory", password="pw-mallory-123")


@pytest.fixture
def other_team(other_user: Any) -> Team:
    return services.create_team("Other studio", other_user)


@pytest.fixture
def alice(client: Any, user: Any, team: Team) -> Any:
    """A test client logged in as a member of `team`."""
    client.force_login(user)
    return client


# ----- images ---------------------------------------------------------------------------
def image_bytes(fmt: str = "PNG", size: tuple[int, int] = (64, 48), **save: Any) -> bytes:
    """A small real image with some structure (so resizing has something to do)."""
    image = Image.new("RGB", size, (30, 90, 160))
    for x in range(0, size[0], 8):
        for y in range(0, size[1], 8):
            image.putpixel((x, y), (240, 200, 40))
    out = io.BytesIO()
    image.save(out, fmt, **save)
    return out.getvalue()


@pytest.fixture
def make_image() -> Callable[..., bytes]:
    return image_bytes


# ----- a real worker process -----------------------------------------------------------------
def database_url() -> str:
    """The test database as a URL, for worker processes started by a test."""
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


class Worker:
    """`manage.py run_worker` in its own process group, so a test can kill -9 all of it."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "run_worker"],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: the machine 'dies' mid-task."""
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


@pytest.fixture
def worker_env(live_server: Any, settings: Any) -> dict[str, str]:
    settings.SANDBOX_BASE_URL = live_server.url
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url(),
        SANDBOX_BASE_URL=live_server.url,
        UPSCALER_DATA_DIR=str(settings.DATA_DIR),
        TICK_SECONDS="0.2",
        DISPATCH_GRACE_SECONDS="5",
        JOB_LEASE_SECONDS=os.environ.get("TEST_JOB_LEASE_SECONDS", "8"),
        WORKERS="2",
        DB_CONN_MAX_AGE="0",
    )
    return env


@pytest.fixture
def start_worker(worker_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Worker]]:
    started: list[Worker] = []

    def _start(**extra_env: str) -> Worker:
        env = {**worker_env, **extra_env}
        worker = Worker(env, tmp_path / f"worker-{len(started)}.log").start()
        started.append(worker)
        return worker

    yield _start
    for worker in started:
        worker.stop()


@pytest.fixture
def worker(start_worker: Callable[..., Worker]) -> Worker:
    return start_worker()


def wait_until(predicate: Callable[[], Any], timeout: float = 30.0, every: float = 0.2) -> Any:
    """Poll `predicate` until it returns something truthy; fail with a clear message."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"Condition not met within {timeout:.0f} s")


@pytest.fixture(scope="session", autouse=True)
def _remove_test_data_dir() -> Iterator[None]:
    """The run's private data dir (database, media) goes away with the run."""
    yield
    shutil.rmtree(settings.DATA_DIR, ignore_errors=True)
