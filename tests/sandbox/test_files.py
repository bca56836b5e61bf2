"""The fake CDN: signed, expiring result URLs, slow drips and oversize downloads."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.files.storage import default_storage
from django.utils import timezone

from sandbox import knobs
from sandbox.models import SandboxResult
from tests.sandbox.conftest import body_of, fetch, picture
from tests.sandbox.test_ideogram import send


@pytest.fixture
def result_url(client) -> str:
    return send(client, {}).json()["data"][0]["url"]


def test_a_signed_url_downloads_with_type_and_length(client, result_url):
    response = fetch(client, result_url)

    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    data = body_of(response)
    assert int(response["Content-Length"]) == len(data)
    assert picture(data).size == (128, 96)


def test_ttl_zero_means_already_expired(client):
    knobs.set_knobs("ideogram", result_ttl_seconds=0)
    url = send(client, {}).json()["data"][0]["url"]

    response = fetch(client, url)

    assert response.status_code == 410


def test_expiry_counts_from_issue(client, travel):
    knobs.set_knobs("ideogram", result_ttl_seconds=60)
    url = send(client, {}).json()["data"][0]["url"]
    exp = int(parse_qs(urlsplit(url).query)["exp"][0])

    assert abs(exp - (timezone.now().timestamp() + 60)) < 5
    travel(59)
    assert fetch(client, url).status_code == 200
    travel(61)
    assert fetch(client, url).status_code == 410


@pytest.mark.parametrize(
    "tamper",
    [
        lambda url: url.replace("sig=", "sig=x"),
        lambda url: url.replace("exp=", "exp=9"),
        lambda url: url.split("?")[0],
        lambda url: url.replace("/ideogram/", "/uwear/"),
    ],
)
def test_a_tampered_url_is_403(client, result_url, tamper):
    assert fetch(client, tamper(result_url)).status_code == 403


def test_a_deleted_file_is_403(client, result_url):
    default_storage.delete(SandboxResult.objects.get().file_name)

    assert fetch(client, result_url).status_code == 403


def test_slow_drip_trickles_the_download(client):
    url = send(client, {}).json()["data"][0]["url"]
    size = SandboxResult.objects.get().size_bytes
    rate = size * 4  # about a quarter of a second in all
    knobs.set_knobs("ideogram", slow_drip_bytes_per_second=rate)

    started = time.monotonic()
    data = body_of(fetch(client, url))

    assert len(data) == size
    assert time.monotonic() - started >= 0.2


def test_oversize_pads_the_download_to_the_claimed_size(client, result_url):
    knobs.set_knobs("ideogram", oversize_bytes=3_000_000)

    response = fetch(client, result_url)

    assert response["Content-Length"] == "3000000"
    data = body_of(response)
    assert len(data) == 3_000_000
    assert picture(data).size == (128, 96)  # the image is intact, only padded


def test_downloads_are_logged_but_not_as_creates(client, result_url):
    from sandbox.models import SandboxRequest

    fetch(client, result_url)

    download = SandboxRequest.objects.filter(path__startswith="/sandbox/files/").get()
    assert (download.status_code, download.is_create) == (200, False)
