"""Media on S3-compatible object storage: a private bucket, unguessable keys, signed downloads.

The S3 server is moto's server mode, started by the test on a local port.
"""

from __future__ import annotations

import io
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.urls import reverse
from PIL import Image

from tests.factories import local_job

pytestmark = pytest.mark.django_db
BUCKET = "upscaler-media"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    port = free_port()
    server = Path(sys.executable).parent / "moto_server"
    process = subprocess.Popen(
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(endpoint, timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.2)
    yield endpoint
    process.terminate()
    process.wait(10)


@pytest.fixture
def s3_media(s3_endpoint: str, settings: Any, monkeypatch: Any) -> Any:
    import boto3

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test-access")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test-secret")
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "default_acl": None,
                "querystring_auth": True,
                "querystring_expire": 300,
                "file_overwrite": False,
                "addressing_style": "path",
            },
        },
    }
    return client


def test_results_live_in_the_bucket_and_download_through_signed_urls(
    s3_media: Any, s3_endpoint: str, alice: Any, team: Any, user: Any
) -> None:
    job = local_job(team, user, scale=2, run=True, name="boat.png", size=(40, 30))
    assert job.status == "succeeded", job.error_message
    result = job.results.get()
    keys = {obj["Key"] for obj in s3_media.list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert {job.source.file.name, result.file.name, result.thumbnail.name} <= keys
    assert all(len(Path(key).stem) >= 20 for key in keys)  # unguessable names

    response = alice.get(reverse("jobs:result_file", args=[result.pk]) + "?download=1")
    assert response.status_code == 302
    signed = response["Location"]
    assert signed.startswith(s3_endpoint) and "Signature" in signed
    fetched = httpx.get(signed)
    assert fetched.status_code == 200
    assert 'attachment; filename="boat-local-80x60.png"' in fetched.headers["content-disposition"]
    assert Image.open(io.BytesIO(fetched.content)).size == (80, 60)


def test_the_bucket_is_private(s3_media: Any, s3_endpoint: str, team: Any, user: Any) -> None:
    job = local_job(team, user, run=True)
    unsigned = f"{s3_endpoint}/{BUCKET}/{job.results.get().file.name}"
    assert httpx.get(unsigned).status_code == 403


def test_other_teams_cannot_get_a_signed_url(
    s3_media: Any, alice: Any, other_team: Any, other_user: Any
) -> None:
    job = local_job(other_team, other_user, run=True)
    url = reverse("jobs:result_file", args=[job.results.get().pk])
    assert alice.get(url).status_code == 404
