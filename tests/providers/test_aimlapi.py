"""Contract tests of the AI/ML API adapter against its documented requests and replies.

`fixtures/aimlapi/success_url.json` is the example reply of the seed document, verbatim; the
other fixtures follow the documented shapes (the error body, nullable `data` and `meta`).
No network: respx answers every request.
"""

from __future__ import annotations

import base64
import email.utils
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from jobs.providers.aimlapi import AimlapiProvider
from jobs.providers.base import (
    ErrorKind,
    InputKind,
    JobRequest,
    JobState,
    OptionError,
    ProviderError,
    SourceInput,
)

FIXTURES = Path(__file__).parent / "fixtures" / "aimlapi"
BASE_URL = "https://api.aimlapi.com"
ENDPOINT = f"{BASE_URL}/v1/images/generations"
JOB_ID = "0b9f3c52-4d6e-4a1b-9c7d-2e8f5a6b1c3d"
IMAGE = b"\x89PNG\r\n\x1a\n" + b"source pixels"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def provider(base_url: str = BASE_URL) -> AimlapiProvider:
    return AimlapiProvider(api_key="k", base_url=base_url)


def job_request(**options: Any) -> JobRequest:
    return JobRequest(
        job_id=JOB_ID,
        options=AimlapiProvider.clean_options(options),
        source=SourceInput(
            kind=InputKind.UPLOAD,
            data=IMAGE,
            filename="cat.png",
            content_type="image/png",
            width=64,
            height=48,
        ),
    )


def submit_error(response: httpx.Response | Exception) -> ProviderError:
    with respx.mock:
        respx.post(ENDPOINT).mock(side_effect=[response])
        with pytest.raises(ProviderError) as caught:
            provider().submit(job_request())
    return caught.value


# ----- the request -------------------------------------------------------------------------
@respx.mock
def test_request_is_sent_as_documented() -> None:
    route = respx.post(ENDPOINT).respond(200, json=fixture("success_url"))
    provider().submit(job_request(resolution="4k", scale="80", response_format="b64_json"))

    assert route.call_count == 1
    sent = route.calls.last.request
    assert sent.method == "POST"
    assert str(sent.url) == ENDPOINT
    assert sent.headers["Authorization"] == "Bearer k"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["X-Client-Request-Id"] == JOB_ID
    assert json.loads(sent.content) == {
        "model": "bytedance/dreamina-creative-upscale",
        "image_url": "data:image/png;base64," + base64.b64encode(IMAGE).decode(),
        "resolution": "4k",
        "scale": 80,
        "response_format": "b64_json",
    }


@respx.mock
def test_defaults_are_sent_when_the_user_chose_nothing() -> None:
    route = respx.post(ENDPOINT).respond(200, json=fixture("success_url"))
    provider().submit(job_request())
    body = json.loads(route.calls.last.request.content)
    assert (body["resolution"], body["scale"], body["response_format"]) == ("2k", 50, "url")


@respx.mock
def test_submit_waits_minutes_for_the_reply() -> None:
    route = respx.post(ENDPOINT).respond(200, json=fixture("success_url"))
    provider().submit(job_request())
    assert route.calls.last.request.extensions["timeout"]["read"] >= 120


@respx.mock
def test_any_base_url_works_such_as_the_sandbox() -> None:
    sandbox = "http://127.0.0.1:8000/sandbox/aimlapi"
    route = respx.post(f"{sandbox}/v1/images/generations").respond(200, json=fixture("success_url"))
    provider(base_url=sandbox + "/").submit(job_request())
    assert route.call_count == 1


@respx.mock
def test_missing_content_type_is_sniffed_for_the_data_url() -> None:
    route = respx.post(ENDPOINT).respond(200, json=fixture("success_url"))
    request = job_request()
    request.source.content_type = ""
    provider().submit(request)
    image_url = json.loads(route.calls.last.request.content)["image_url"]
    assert image_url.startswith("data:image/png;base64,")


def test_a_job_without_an_upload_is_refused_before_sending() -> None:
    request = job_request()
    request.source = SourceInput(kind=InputKind.PUBLIC_URL, public_url="https://example.com/a.png")
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(ENDPOINT)
        with pytest.raises(ProviderError) as caught:
            provider().submit(request)
    assert caught.value.kind == ErrorKind.INPUT
    assert not route.called


# ----- replies -------------------------------------------------------------------------------
@respx.mock
def test_documented_reply_gives_the_url_and_the_reported_cost() -> None:
    respx.post(ENDPOINT).respond(
        200, json=fixture("success_url"), headers={"x-inference-id": "inf-123"}
    )
    outcome = provider().submit(job_request())

    assert outcome.state == JobState.SUCCEEDED
    assert outcome.provider_job_id == "inf-123"
    assert [r.url for r in outcome.results] == [fixture("success_url")["data"][0]["url"]]
    assert outcome.results[0].data is None
    assert outcome.cost is not None
    assert outcome.cost.source == "reported"
    assert outcome.cost.credits == Decimal(120000)
    assert outcome.cost.usd_micros == 60_000


@respx.mock
def test_any_2xx_is_accepted() -> None:
    respx.post(ENDPOINT).respond(201, json=fixture("success_url"))
    assert provider().submit(job_request()).state == JobState.SUCCEEDED


@respx.mock
def test_b64_json_result_comes_back_as_bytes() -> None:
    respx.post(ENDPOINT).respond(200, json=fixture("success_b64"))
    outcome = provider().submit(job_request(response_format="b64_json"))
    assert outcome.state == JobState.SUCCEEDED
    assert len(outcome.results) == 1
    assert outcome.results[0].data == b"\x89PNG\r\n\x1a\nupscaled"
    assert outcome.results[0].url == ""


@respx.mock
def test_null_meta_falls_back_to_the_cost_headers() -> None:
    headers = {"x-aimlapi-credits-used": "240000", "x-aimlapi-usd-spent": "0.12"}
    respx.post(ENDPOINT).respond(200, json=fixture("success_b64"), headers=headers)
    cost = provider().submit(job_request()).cost
    assert cost is not None
    assert (cost.source, cost.credits, cost.usd_micros) == ("reported", Decimal(240000), 120_000)


@respx.mock
def test_body_cost_wins_over_the_headers() -> None:
    headers = {"x-aimlapi-credits-used": "999999", "x-aimlapi-usd-spent": "9.99"}
    respx.post(ENDPOINT).respond(200, json=fixture("success_url"), headers=headers)
    cost = provider().submit(job_request()).cost
    assert cost is not None
    assert (cost.credits, cost.usd_micros) == (Decimal(120000), 60_000)


@respx.mock
def test_credits_alone_are_converted_at_two_million_per_dollar() -> None:
    respx.post(ENDPOINT).respond(
        200, json=fixture("success_b64"), headers={"x-aimlapi-credits-used": "300000"}
    )
    cost = provider().submit(job_request()).cost
    assert cost is not None
    assert (cost.source, cost.credits, cost.usd_micros) == ("reported", Decimal(300000), 150_000)


@respx.mock
def test_no_reported_cost_uses_the_price_table() -> None:
    respx.post(ENDPOINT).respond(200, json=fixture("success_b64"))
    cost = provider().submit(job_request(resolution="4k")).cost
    assert cost is not None
    assert (cost.source, cost.credits, cost.usd_micros) == ("price_table", Decimal(120000), 60_000)


@respx.mock
def test_null_data_is_a_provider_failure_that_keeps_a_reported_cost() -> None:
    respx.post(ENDPOINT).respond(
        200, json=fixture("success_null"), headers={"x-aimlapi-usd-spent": "0.06"}
    )
    outcome = provider().submit(job_request())
    assert outcome.state == JobState.FAILED
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.PROVIDER
    assert "AI/ML API answered without an upscaled image" in outcome.error.message
    assert outcome.cost is not None and outcome.cost.usd_micros == 60_000


@respx.mock
def test_items_without_url_or_valid_base64_are_no_result() -> None:
    body = {"data": [{"url": None, "b64_json": "not base64!"}], "meta": None}
    respx.post(ENDPOINT).respond(200, json=body)
    outcome = provider().submit(job_request())
    assert outcome.state == JobState.FAILED
    assert outcome.cost is None


@respx.mock
def test_error_body_inside_a_2xx_is_classified_by_its_status_code() -> None:
    respx.post(ENDPOINT).respond(200, json=fixture("error_no_credits"))
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert caught.value.kind == ErrorKind.ACCOUNT
    assert caught.value.status_code == 403


@pytest.mark.parametrize("content", [b"<html>Bad gateway</html>", b"", b'{"data": ['])
def test_malformed_json_in_a_2xx_is_a_clear_provider_error(content: bytes) -> None:
    error = submit_error(httpx.Response(200, content=content))
    assert error.kind == ErrorKind.PROVIDER
    assert error.message == "AI/ML API sent a reply that is not JSON."


@respx.mock
def test_json_that_is_not_an_object_is_no_result() -> None:
    respx.post(ENDPOINT).respond(200, json=["nothing"])
    assert provider().submit(job_request()).state == JobState.FAILED


# ----- errors --------------------------------------------------------------------------------
def test_validation_error_is_an_input_error_with_their_words() -> None:
    error = submit_error(httpx.Response(400, json=fixture("error_validation")))
    assert error.kind == ErrorKind.INPUT
    assert error.status_code == 400
    assert error.message.startswith("AI/ML API refused the request as invalid.")
    assert error.provider_message == (
        "Body validation error! (request id 5f0c2a9e-1b7d-4c3e-9a61-2d8f4e7b3c10)"
    )
    assert not error.retryable


def test_bad_key_is_an_account_error() -> None:
    error = submit_error(httpx.Response(401, json=fixture("error_unauthorized")))
    assert error.kind == ErrorKind.ACCOUNT
    assert "API key" in error.message
    assert error.provider_message.startswith("Unauthorized")


def test_403_means_out_of_credits() -> None:
    error = submit_error(httpx.Response(403, json=fixture("error_no_credits")))
    assert error.kind == ErrorKind.ACCOUNT
    assert "out of credits" in error.message
    assert "AI/ML API" in error.message
    assert error.provider_message.startswith("You've run out of credits.")


def test_404_points_at_the_base_url() -> None:
    error = submit_error(httpx.Response(404, json={"message": "Not Found", "statusCode": 404}))
    assert error.kind == ErrorKind.ACCOUNT
    assert "base URL" in error.message


def test_429_honours_retry_after_seconds() -> None:
    error = submit_error(
        httpx.Response(429, json={"message": "Too many requests"}, headers={"Retry-After": "17"})
    )
    assert error.kind == ErrorKind.TRANSIENT
    assert error.retryable
    assert error.retry_after == 17.0


def test_429_honours_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    error = submit_error(httpx.Response(429, headers={"Retry-After": when}))
    assert error.kind == ErrorKind.TRANSIENT
    assert error.retry_after is not None
    assert 115 <= error.retry_after <= 121


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(status: int) -> None:
    error = submit_error(httpx.Response(status, text="upstream failure"))
    assert error.kind == ErrorKind.TRANSIENT
    assert error.message == f"AI/ML API had a server error ({status}); we will try again shortly."
    assert error.provider_message == "upstream failure"


def test_generation_timeout_is_transient_and_says_so() -> None:
    error = submit_error(httpx.Response(504, json=fixture("error_generation_timeout")))
    assert error.kind == ErrorKind.TRANSIENT
    assert "took too long" in error.message
    assert error.provider_message.startswith("Generation timeout")


def test_read_timeout_after_sending_is_an_unknown_outcome_and_not_resent() -> None:
    with respx.mock:
        route = respx.post(ENDPOINT).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(ProviderError) as caught:
            provider().submit(job_request())
        assert route.call_count == 1
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME
    assert not caught.value.retryable


def test_connect_error_is_transient() -> None:
    error = submit_error(httpx.ConnectError("connection refused"))
    assert error.kind == ErrorKind.TRANSIENT
    assert error.message.startswith("Could not reach AI/ML API")


# ----- options and prices --------------------------------------------------------------------
def test_defaults_are_applied() -> None:
    assert AimlapiProvider.clean_options({}) == {
        "resolution": "2k",
        "scale": 50,
        "response_format": "url",
    }


@pytest.mark.parametrize(
    ("raw", "field", "allowed"),
    [
        ({"resolution": "8k"}, "resolution", "2k, 4k"),
        ({"scale": 101}, "scale", "between 0 and 100"),
        ({"scale": -1}, "scale", "between 0 and 100"),
        ({"scale": "lots"}, "scale", "whole number"),
        ({"response_format": "png"}, "response_format", "url, b64_json"),
        ({"prompt": "a cat"}, "prompt", "not an option"),
    ],
)
def test_wrong_options_are_refused_naming_the_field(
    raw: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(OptionError) as caught:
        AimlapiProvider.clean_options(raw)
    assert caught.value.field == field
    assert allowed in caught.value.message


def test_every_documented_option_is_described() -> None:
    described = {o.name: o.describe() for o in AimlapiProvider.options}
    assert described["resolution"]["choices"] == ["2k", "4k"]
    assert (described["scale"]["minimum"], described["scale"]["maximum"]) == (0, 100)
    assert described["response_format"]["default"] == "url"
    assert all(d.get("help") for d in described.values())


@pytest.mark.parametrize("resolution", ["2k", "4k"])
def test_estimate_uses_the_editable_price_table(resolution: str) -> None:
    cost = provider().estimate(AimlapiProvider.clean_options({"resolution": resolution}))
    assert (cost.credits, cost.usd_micros, cost.source) == (Decimal(120000), 60_000, "price_table")


def test_limits_follow_the_docs() -> None:
    limits = AimlapiProvider.limits
    assert limits.formats == frozenset({"JPEG", "PNG"})
    assert limits.problems(format="WEBP", size_bytes=5_000_000, width=5000, height=10) == [
        "takes JPEG, PNG only, not WEBP",
        "takes files up to 4.7 MB",
        "takes images up to 4096×4096 pixels",
    ]
    assert limits.problems(format="JPEG", size_bytes=4_700_000, width=4096, height=4096) == []


def test_identity() -> None:
    assert (AimlapiProvider.slug, AimlapiProvider.name) == ("aimlapi", "AI/ML API")
    assert AimlapiProvider.default_base_url == BASE_URL
    assert AimlapiProvider.input_kinds == (InputKind.UPLOAD,)
    assert AimlapiProvider.summary


# ----- connection check ----------------------------------------------------------------------
@respx.mock
def test_check_connection_takes_a_validation_error_as_a_working_key() -> None:
    route = respx.post(ENDPOINT).respond(400, json=fixture("error_validation"))
    assert provider().check_connection() == "Connected: AI/ML API accepted the API key."
    sent = route.calls.last.request
    assert sent.headers["Authorization"] == "Bearer k"
    # No image, so nothing can be generated or charged.
    assert json.loads(sent.content) == {"model": "bytedance/dreamina-creative-upscale"}


@pytest.mark.parametrize(
    ("response", "kind"),
    [
        (httpx.Response(401, json={"message": "Unauthorized", "statusCode": "401"}), "account"),
        (httpx.Response(403, json={"message": "No credits", "statusCode": 403}), "account"),
        (httpx.Response(404, json={"message": "Not Found"}), "account"),
        (httpx.Response(503, text="down"), "transient"),
    ],
)
def test_check_connection_raises_what_the_user_must_fix(
    response: httpx.Response, kind: str
) -> None:
    with respx.mock:
        respx.post(ENDPOINT).mock(return_value=response)
        with pytest.raises(ProviderError) as caught:
            provider().check_connection()
    assert caught.value.kind == kind


def test_check_connection_tells_a_dead_host() -> None:
    with respx.mock:
        respx.post(ENDPOINT).mock(side_effect=httpx.ConnectError("no route to host"))
        with pytest.raises(ProviderError) as caught:
            provider().check_connection()
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert "Could not reach AI/ML API" in caught.value.message
