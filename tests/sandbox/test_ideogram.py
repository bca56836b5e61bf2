"""The fake Ideogram: multipart upload, Api-Key header, synchronous results that expire."""

from __future__ import annotations

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from sandbox import knobs
from tests.conftest import image_bytes
from tests.sandbox.conftest import bearer, download_picture, fetch

URL = "/sandbox/ideogram/upscale"
KEY = {"HTTP_API_KEY": "ideo-key"}


def send(client, image_request: object = None, data: bytes | None = None, headers=None):
    form: dict = {}
    if image_request is not None:
        form["image_request"] = (
            image_request if isinstance(image_request, str) else json.dumps(image_request)
        )
    payload = image_bytes("PNG", (64, 48)) if data is None else data
    form["image_file"] = SimpleUploadedFile("photo.png", payload, content_type="image/png")
    return client.post(URL, data=form, **(KEY if headers is None else headers))


def test_upscale_returns_one_expiring_result_per_image(client):
    response = send(client, {"prompt": "a cat", "num_images": 2, "seed": 7, "detail": 80})

    assert response.status_code == 200
    reply = response.json()
    assert reply["created"].endswith("+00:00")
    assert [item["seed"] for item in reply["data"]] == [7, 8]
    for item in reply["data"]:
        assert item["resolution"] == "128x96"
        assert item["is_image_safe"] is True
        assert item["style_type"] == "GENERAL"
        assert "exp=" in item["url"]
        result = download_picture(client, item["url"])
        assert (result.format, result.size) == ("PNG", (128, 96))
    assert reply["data"][0]["url"] != reply["data"][1]["url"]


def test_webp_and_jpeg_sources_are_accepted(client):
    for fmt in ("WEBP", "JPEG"):
        assert send(client, {}, data=image_bytes(fmt, (20, 10))).status_code == 200


def test_bearer_is_not_how_ideogram_takes_its_key(client):
    response = send(client, {}, headers=bearer())

    assert response.status_code == 401
    assert "Api-Key" in response.json()["error"]


@pytest.mark.parametrize(
    "image_request",
    [
        None,
        "{not json",
        "[1, 2]",
        {"resemblance": 0},
        {"detail": 101},
        {"num_images": 9},
        {"seed": -1},
        {"magic_prompt_option": "MAYBE"},
        {"prompt": 5},
    ],
)
def test_bad_image_requests_are_400(client, image_request):
    response = send(client, image_request)

    assert response.status_code == 400
    assert list(response.json()) == ["error"]


def test_an_unsupported_format_is_400_and_a_huge_file_413(client):
    assert send(client, {}, data=image_bytes("GIF", (10, 10))).status_code == 400

    response = send(client, {}, data=image_bytes("PNG", (8, 8)) + bytes(10_000_001))
    assert response.status_code == 413


def test_missing_image_file_is_400(client):
    response = client.post(URL, data={"image_request": "{}"}, **KEY)

    assert response.status_code == 400
    assert response.json() == {"error": "image_file is required"}


def test_out_of_credits_is_402_with_a_reject_reason(client):
    knobs.set_knobs("ideogram", out_of_credits=True)

    response = send(client, {})

    assert response.status_code == 402
    assert response.json()["reject_reason"] == "insufficient_funds"


def test_failure_is_a_422_safety_check(client):
    knobs.set_knobs("ideogram", failure_rate=1.0)

    response = send(client, {"prompt": "x"})

    assert response.status_code == 422
    assert "failed safety check" in response.json()["error"]


def test_unsafe_results_have_no_url(client):
    knobs.set_knobs("ideogram", unsafe_results=True)

    item = send(client, {}).json()["data"][0]

    assert item["is_image_safe"] is False
    assert item["url"] is None


def test_result_urls_expire(client, travel):
    url = send(client, {}).json()["data"][0]["url"]

    travel(24 * 3600 + 1)

    assert fetch(client, url).status_code == 410
