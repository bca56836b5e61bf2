"""docker-compose.yml cannot run here, so this keeps it consistent with the code and the docs."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SETTINGS = (ROOT / "upscaler_site" / "settings.py").read_text()
README = (ROOT / "README.md").read_text()
DEPLOY = (ROOT / "docs" / "deploy.md").read_text()

# Read by libraries rather than our settings module (boto3 reads the AWS credentials).
READ_ELSEWHERE = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}


def app_environment() -> dict[str, str]:
    return COMPOSE["x-app"]["environment"]


def test_compose_has_the_documented_services() -> None:
    assert {"web", "worker", "db", "redis", "objects"} <= set(COMPOSE["services"])
    assert "run_worker" in COMPOSE["services"]["worker"]["command"]
    assert "gunicorn upscaler_site.wsgi" in COMPOSE["services"]["web"]["command"]
    assert "/healthz" in str(COMPOSE["services"]["web"]["healthcheck"]["test"])


def test_every_app_variable_is_read_by_settings_and_documented() -> None:
    for name in app_environment():
        if name not in READ_ELSEWHERE:
            assert f'"{name}"' in SETTINGS, f"{name} is not read by settings.py"
        assert f"`{name}`" in README, f"{name} is missing from the README's table"


def test_production_essentials_are_set() -> None:
    env = app_environment()
    assert env["DEBUG"] == "false"
    assert env["DATABASE_URL"].startswith("postgres://")
    assert env["REDIS_URL"].startswith("redis://")
    assert env["STORAGE_URL"].startswith("s3://")


def test_deploy_doc_names_the_same_settings() -> None:
    for name in ["DATABASE_URL", "REDIS_URL", "STORAGE_URL", "FIELD_ENCRYPTION_KEYS", "SECRET_KEY"]:
        assert name in DEPLOY
    for command in re.findall(r"command: (.+)", (ROOT / "docker-compose.yml").read_text()):
        program = command.split()[0]
        assert program in {"gunicorn", "python", "redis-server", "server"}
