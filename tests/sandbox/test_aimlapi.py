"""The fake AI/ML API: synchronous Dreamina creative upscale."""

from __future__ import annotations

import base64

import httpx
import pytest
import respx

from sandbox import knobs, log
from tests.conftest import image_bytes
from tests.sandbox.conftest import bearer, download_picture, picture, post_json

URL = "/sandbox/aimlapi/v1/images/generations"
MODEL = "bytedance/dreamina-creative-upscale"


def data_url(data: bytes, mime: str = "image/png") -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


def body(**extra: object) -> dict:
    return {"model": MODEL, "image_url": data_url(image_bytes("PNG", (64, 48))), **extra}


def test_upscale_to_2k_returns_a_downloadable_png_and_reports_cost(client):
    response = post_json(client, URL, body(), HTTP_X_CLIENT_REQUEST_ID="job-123:a.b", **bearer())

    assert response.status_code == 200
    reply = response.json()
    assert reply["meta"] == {"usage": {"credits_used": 120000, "usd_spent": 0.06}}
    assert response["x-aimlapi-credits-used"] == "120000"
    assert response["x-aimlapi-usd-spent"] == "0.06"
    assert response["x-inference-id"]
    assert response["X-Client-Request-Id"] == "job-123:a.b"
    item = reply["data"][0]
    assert item["b64_json"] is None
    assert item["url"].startswith("http://testserver/sandbox/files/aimlapi/")
    result = download_picture(client, item["url"])
    assert (result.format, result.size) == ("PNG", (2048, 1536))


def test_b64_json_at_4k_keeps_the_aspect_ratio(client):
    source = image_bytes("JPEG", (30, 60))
    reply = post_json(
        client,
        URL,
        body(image_url=data_url(source, "image/jpeg"), resolution="4k", response_format="b64_json"),
        **bearer(),
    ).json()

    item = reply["data"][0]
    assert item["url"] is None
    assert picture(base64.b64decode(item["b64_json"])).size == (2048, 4096)
    assert reply["meta"]["usage"]["credits_used"] == 240000


@respx.mock
def test_an_http_image_url_is_fetched(client):
    respx.get("https://images.example/cat.png").mock(
        return_value=httpx.Response(200, content=image_bytes("PNG", (40, 40)))
    )

    response = post_json(client, URL, body(image_url="https://images.example/cat.png"), **bearer())

    assert response.status_code == 200
    assert download_picture(client, response.json()["data"][0]["url"]).size == (2048, 2048)


@respx.mock
def test_an_unreachable_image_url_is_a_400(client):
    respx.get("https://images.example/gone.png").mock(side_effect=httpx.ConnectError("nope"))

    response = post_json(client, URL, body(image_url="https://images.example/gone.png"), **bearer())

    assert response.status_code == 400
    assert "Failed to load image_url" in response.json()["message"]


@pytest.mark.parametrize(
    "change",
    [
        {"model": "bytedance/other"},
        {"model": None},
        {"resolution": "8k"},
        {"scale": 101},
        {"scale": "50"},
        {"response_format": "png"},
        {"image_url": ""},
    ],
)
def test_invalid_bodies_answer_body_validation_error(client, change):
    response = post_json(client, URL, {**body(), **change}, **bearer())

    assert response.status_code == 400
    error = response.json()
    assert error["message"] == "Body validation error!"
    assert error["path"] == "/v1/images/generations"
    assert error["statusCode"] == 400
    assert error["requestId"] and error["timestamp"].endswith("Z")


@pytest.mark.parametrize(
    ("source", "words"),
    [
        (image_bytes("GIF", (20, 20)), "Unsupported image format GIF"),
        (image_bytes("PNG", (4097, 8)), "4096x4096"),
        (b"not an image at all", "not an image"),
    ],
)
def test_unsuitable_images_are_refused(client, source, words):
    response = post_json(client, URL, body(image_url=data_url(source)), **bearer())

    assert response.status_code == 400
    assert words in response.json()["message"]


def test_an_image_over_4_7_mb_is_refused(client):
    big = image_bytes("PNG", (8, 8)) + bytes(4_700_001)

    response = post_json(client, URL, body(image_url=data_url(big)), **bearer())

    assert response.status_code == 400
    assert "larger than 4700000 bytes" in response.json()["message"]


def test_missing_key_is_401_in_the_provider_shape(client):
    response = post_json(client, URL, body())

    assert response.status_code == 401
    assert set(response.json()) == {"message", "path", "requestId", "statusCode", "timestamp"}


def test_a_bad_client_request_id_is_refused(client):
    response = post_json(client, URL, body(), HTTP_X_CLIENT_REQUEST_ID="has spaces", **bearer())

    assert response.status_code == 400


def test_out_of_credits_is_403(client):
    knobs.set_knobs("aimlapi", out_of_credits=True)

    response = post_json(client, URL, body(), **bearer())

    assert response.status_code == 403
    assert response.json()["statusCode"] == 403


def test_a_failing_generation_is_a_504_generation_timeout(client):
    knobs.set_knobs("aimlapi", failure_rate=1.0)

    response = post_json(client, URL, body(), **bearer())

    assert response.status_code == 504
    assert response.json()["message"] == "Generation timeout"


def test_every_create_is_logged_with_the_client_reference(client):
    post_json(client, URL, body(), HTTP_X_CLIENT_REQUEST_ID="job-1", **bearer())
    post_json(client, URL, {"model": "x"}, HTTP_X_CLIENT_REQUEST_ID="job-2", **bearer())

    assert log.creates("aimlapi", client_ref="job-1", accepted_only=True).count() == 1
    assert log.creates("aimlapi", client_ref="job-2").count() == 1
    assert log.creates("aimlapi", client_ref="job-2", accepted_only=True).count() == 0
