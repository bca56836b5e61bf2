"""Production mode passes `manage.py check --deploy` with no warnings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def run_manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def production_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SANDBOX"))}
    env.update(
        DJANGO_SETTINGS_MODULE="upscaler_site.settings",
        DEBUG="false",
        SECRET_KEY="x" * 20 + "-production-secret-key-with-enough-entropy-9f8e7d6c5b4a",
        FIELD_ENCRYPTION_KEYS="a-separate-key-for-provider-secrets",
        ALLOWED_HOSTS="upscaler.example.com",
        UPSCALER_DATA_DIR=str(tmp_path),
    )
    return env


def test_check_deploy_passes_with_no_warnings(tmp_path: Path) -> None:
    result = run_manage(production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    del env["SECRET_KEY"]
    result = run_manage(env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_sandbox_is_off_in_production(tmp_path: Path) -> None:
    env = production_env(tmp_path)
    code = "from django.conf import settings; print(settings.SANDBOX_ENABLED)"
    result = run_manage(env, "shell", "-c", code)
    assert result.stdout.strip().splitlines()[-1] == "False", result.stderr


@pytest.mark.django_db
def test_sqlite_is_tuned_for_web_and_worker_together() -> None:
    from django.db import connection

    if connection.vendor != "sqlite":
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"
        cursor.execute("PRAGMA busy_timeout")
        assert cursor.fetchone()[0] >= 5000
    assert connection.settings_dict["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
