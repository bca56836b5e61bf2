"""Helpers for the sandbox tests: keys, aging jobs instead of sleeping, reading results."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db.models import F
from django.test import Client
from PIL import Image

from sandbox.models import SandboxJob
from tests.conftest import image_bytes

KEY = "sandbox-test-key"


@pytest.fixture(autouse=True)
def _sandbox_settings(settings: Any, tmp_path: Any, db: Any) -> None:
    # No timer threads in tests (they would race the test transaction); files in tmp.
    settings.SANDBOX_WEBHOOK_TIMERS = False
    # pytest-django runs with DEBUG off; the fetches below are mocked with respx anyway.
    settings.SANDBOX_FETCH_PRIVATE_ADDRESSES = True
    settings.MEDIA_ROOT = tmp_path / "media"


def age(seconds: float, **filters: Any) -> None:
    """Move jobs back in time instead of sleeping: their clock-driven status moves on."""
    SandboxJob.objects.filter(**filters).update(
        created_at=F("created_at") - timedelta(seconds=seconds)
    )


def bearer(key: str = KEY) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {key}"}


def post_json(client: Client, path: str, body: Any, **headers: Any) -> Any:
    return client.post(path, data=json.dumps(body), content_type="application/json", **headers)


def fetch(client: Client, url: str) -> Any:
    """GET an absolute sandbox URL through the test client (path + query)."""
    parts = urlsplit(url)
    return client.get(f"{parts.path}?{parts.query}")


def body_of(response: Any) -> bytes:
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def picture(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def download_picture(client: Client, url: str) -> Image.Image:
    response = fetch(client, url)
    assert response.status_code == 200, response.status_code
    return picture(body_of(response))


@pytest.fixture
def travel(monkeypatch: pytest.MonkeyPatch) -> Callable[[float], None]:
    """Move the sandbox's clock forward by some seconds (for URL expiry)."""
    from django.utils import timezone

    from sandbox import clock

    def _travel(seconds: float) -> None:
        monkeypatch.setattr(clock, "now", lambda: timezone.now() + timedelta(seconds=seconds))

    return _travel


@pytest.fixture
def png() -> Callable[..., bytes]:
    return image_bytes
