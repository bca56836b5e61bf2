"""Contract tests of the useapi.net (Dreamina) adapter against its documented requests and replies.

`fixtures/useapi/seed_*.json` are the seed document's request and replies, verbatim. The
poll replies (`poll_completed`, `poll_failed`) follow the shape of useapi.net's wider docs
(`response.images[].imageUrl`, top-level `error` / `errorDetails`). No network: respx
answers every request.
"""

from __future__ import annotations

import email.utils
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx

from jobs.providers.base import (
    Cost,
    ErrorKind,
    InputKind,
    JobRequest,
    JobState,
    OptionError,
    ProviderError,
    SourceInput,
)
from jobs.providers.useapi import UseapiProvider

FIXTURES = Path(__file__).parent / "fixtures" / "useapi"
BASE_URL = "https://api.useapi.net"
CREATE_URL = f"{BASE_URL}/v1/dreamina/images/upscale"
JOB_ID = "7d3c1a52-4d6e-4a1b-9c7d-2e8f5a6b1c3d"
WEBHOOK = "https://upscaler.example.com/hooks/useapi/s3cr3t"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


SEED_REQUEST = fixture("seed_create_request")
SEED_REPLY = fixture("seed_create_reply")
SOURCE_JOBID = SEED_REQUEST["jobid"]
UPSCALE_JOBID = SEED_REPLY["jobid"]
# What the seed's upscale job id becomes as one path segment.
ENCODED_UPSCALE_JOBID = "j0302140630123456789I-u12345-US%3A%5Bemail%20protected%5D%3Adreamina"
JOB_URL = f"{BASE_URL}/v1/dreamina/images/{ENCODED_UPSCALE_JOBID}"


def provider(base_url: str = BASE_URL) -> UseapiProvider:
    return UseapiProvider(api_key="k", base_url=base_url)


def job_request(
    reference: dict[str, Any] | None = None, webhook_url: str = WEBHOOK, **options: Any
) -> JobRequest:
    return JobRequest(
        job_id=JOB_ID,
        options=UseapiProvider.clean_options(options),
        source=SourceInput(
            kind=InputKind.REFERENCE,
            reference=reference if reference is not None else {"jobid": SOURCE_JOBID},
        ),
        webhook_url=webhook_url,
    )


def sent_json(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


def job_reply(status: str, **fields: Any) -> dict[str, Any]:
    return {**SEED_REPLY, "status": status, **fields}


@pytest.fixture
def api() -> Any:
    with respx.mock(assert_all_called=True) as mock:
        yield mock


# ----- the adapter as the engine and the upload page see it ------------------------------
def test_describes_itself() -> None:
    assert UseapiProvider.slug == "useapi"
    assert UseapiProvider.name == "useapi.net (Dreamina)"
    assert UseapiProvider.is_async is True
    assert UseapiProvider.default_base_url == "https://api.useapi.net"
    assert UseapiProvider.input_kinds == (InputKind.REFERENCE,)
    assert "job id" in UseapiProvider.summary
    assert 2 <= UseapiProvider.poll_interval <= 5
    assert [f.name for f in UseapiProvider.reference_fields] == ["jobid", "imageIndex"]


def test_options_are_the_documented_ones() -> None:
    described = {o.name: o.describe() for o in UseapiProvider.options}
    assert described["upscaleResolution"]["choices"] == ["2k", "4k", "8k"]
    assert described["upscaleResolution"]["default"] == "4k"
    for name, default in (("originalImageStrength", 0.65), ("detailStrength", 0.5)):
        option = described[name]
        assert (option["type"], option["default"]) == ("float", default)
        assert (option["minimum"], option["maximum"]) == (0, 1)
        assert option["help"]
    assert (described["maxJobs"]["minimum"], described["maxJobs"]["maximum"]) == (1, 50)
    assert described["maxJobs"]["default"] is None
    assert UseapiProvider.clean_options({}) == {
        "upscaleResolution": "4k",
        "originalImageStrength": 0.65,
        "detailStrength": 0.5,
        "maxJobs": None,
    }


# ----- create ------------------------------------------------------------------------------
def test_create_request_field_by_field(api: Any) -> None:
    route = api.post(CREATE_URL).respond(200, json=SEED_REPLY)
    provider().submit(job_request(SEED_REQUEST, detailStrength="0.8"))
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == CREATE_URL
    assert request.headers["Authorization"] == "Bearer k"
    assert request.headers["Content-Type"] == "application/json"
    assert sent_json(route) == {
        "jobid": SOURCE_JOBID,
        "imageIndex": 0,
        "upscaleResolution": "4k",
        "originalImageStrength": 0.65,
        "detailStrength": 0.8,
        "replyUrl": WEBHOOK,
        "replyRef": JOB_ID,
    }
    # Every field of the seed's own example request goes out unchanged.
    assert sent_json(route).items() >= SEED_REQUEST.items()


def test_optional_fields_only_when_set(api: Any) -> None:
    route = api.post(CREATE_URL).respond(200, json=SEED_REPLY)
    request = job_request(
        {"jobid": SOURCE_JOBID, "imageIndex": "3"},
        webhook_url="",
        upscaleResolution="8k",
        maxJobs="12",
    )
    provider().submit(request)
    body = sent_json(route)
    assert "replyUrl" not in body
    assert body["replyRef"] == JOB_ID
    assert (body["imageIndex"], body["upscaleResolution"], body["maxJobs"]) == (3, "8k", 12)


def test_create_reply_is_a_running_job_with_its_forecast_cost(api: Any) -> None:
    api.post(CREATE_URL).respond(200, json=SEED_REPLY)
    outcome = provider().submit(job_request())
    assert outcome.state == JobState.RUNNING
    assert outcome.provider_job_id == UPSCALE_JOBID
    assert outcome.cost == Cost(credits=Decimal(0), usd_micros=0, source="reported")


def test_works_under_any_base_url(api: Any) -> None:
    base = "http://sandbox.test:8000/sandbox/useapi"
    create = api.post(f"{base}/v1/dreamina/images/upscale").respond(200, json=SEED_REPLY)
    poll = api.get(f"{base}/v1/dreamina/images/{ENCODED_UPSCALE_JOBID}").respond(
        200, json=SEED_REPLY
    )
    p = provider(base + "/")
    outcome = p.submit(job_request())
    p.poll(outcome.provider_job_id)
    assert create.called and poll.called


def test_bad_reference_is_refused_before_sending() -> None:
    request = job_request({"jobid": SOURCE_JOBID, "imageIndex": 4})
    with respx.mock() as mock, pytest.raises(ProviderError) as caught:
        provider().submit(request)
    assert caught.value.kind == ErrorKind.INPUT
    assert "imageIndex" in caught.value.message
    assert not mock.calls


def test_an_upload_is_refused_before_sending() -> None:
    request = JobRequest(
        job_id=JOB_ID,
        options=UseapiProvider.clean_options({}),
        source=SourceInput(kind=InputKind.UPLOAD, data=b"png"),
    )
    with respx.mock() as mock, pytest.raises(ProviderError) as caught:
        provider().submit(request)
    assert caught.value.kind == ErrorKind.INPUT
    assert "job id" in caught.value.message
    assert not mock.calls


# ----- poll ----------------------------------------------------------------------------------
def test_poll_percent_encodes_the_job_id(api: Any) -> None:
    route = api.get(JOB_URL).respond(200, json=SEED_REPLY)
    provider().poll(UPSCALE_JOBID)
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.url.raw_path == f"/v1/dreamina/images/{ENCODED_UPSCALE_JOBID}".encode()
    assert request.headers["Authorization"] == "Bearer k"
    assert request.content == b""


def test_poll_encodes_colon_and_at_of_a_real_job_id(api: Any) -> None:
    jobid = "j0302140630123456789I-u12345-US:someone@example.com:dreamina"
    route = api.get(url__startswith=f"{BASE_URL}/v1/dreamina/images/").respond(
        200, json=job_reply("created")
    )
    provider().poll(jobid)
    raw = route.calls.last.request.url.raw_path
    assert raw == (
        b"/v1/dreamina/images/j0302140630123456789I-u12345-US%3Asomeone%40example.com%3Adreamina"
    )


def test_status_progression_to_completed(api: Any) -> None:
    route = api.get(JOB_URL)
    route.side_effect = [
        httpx.Response(200, json=job_reply("created")),
        httpx.Response(200, json=job_reply("started")),
        httpx.Response(200, json=fixture("poll_completed")),
    ]
    p = provider()
    states = [p.poll(UPSCALE_JOBID).state for _ in range(2)]
    done = p.poll(UPSCALE_JOBID)
    assert states == [JobState.RUNNING, JobState.RUNNING]
    assert done.state == JobState.SUCCEEDED
    assert done.provider_job_id == UPSCALE_JOBID
    [result] = done.results
    assert result.url == "https://images.example.com/dreamina/upscaled-4k.png"
    assert (result.width, result.height) == (4096, 4096)
    assert done.cost == Cost(credits=Decimal(4), usd_micros=0, source="reported")


def test_images_without_size_or_link(api: Any) -> None:
    images = [
        {"imageUrl": "https://images.example.com/a.png"},
        {"url": "https://images.example.com/not-the-documented-field.png"},
        {"imageUrl": "https://images.example.com/b.png", "width": "2048", "height": None},
    ]
    api.get(JOB_URL).respond(200, json=job_reply("completed", response={"images": images}))
    outcome = provider().poll(UPSCALE_JOBID)
    assert [(r.url, r.width, r.height) for r in outcome.results] == [
        ("https://images.example.com/a.png", None, None),
        ("https://images.example.com/b.png", 2048, None),
    ]
    assert outcome.cost is None  # no forecastCost: the engine falls back to the price table


@pytest.mark.parametrize("forecast", ["4", -1, None, True])
def test_odd_forecast_costs_are_ignored(api: Any, forecast: Any) -> None:
    api.get(JOB_URL).respond(200, json=job_reply("created", response={"forecastCost": forecast}))
    assert provider().poll(UPSCALE_JOBID).cost is None


def test_unknown_status_is_still_running(api: Any) -> None:
    api.get(JOB_URL).respond(200, json=job_reply("queued-somewhere-new"))
    outcome = provider().poll(UPSCALE_JOBID)
    assert outcome.state == JobState.RUNNING
    assert outcome.error is None


def test_failed_job_keeps_useapis_words(api: Any) -> None:
    api.get(JOB_URL).respond(200, json=fixture("poll_failed"))
    outcome = provider().poll(UPSCALE_JOBID)
    assert outcome.state == JobState.FAILED
    error = outcome.error
    assert error is not None and error.kind == ErrorKind.PROVIDER
    assert error.provider_message == ("fail_code: 2043 — Image generation failed, please try again")
    assert "useapi.net (Dreamina) reported the upscale as failed" in error.message
    assert "fail_code: 2043" in error.message


def test_error_details_may_be_an_object(api: Any) -> None:
    api.get(JOB_URL).respond(
        200, json=job_reply("failed", error="fail_code: 1", errorDetails={"reason": "busy"})
    )
    error = provider().poll(UPSCALE_JOBID).error
    assert error is not None
    assert error.provider_message == 'fail_code: 1 — {"reason": "busy"}'


def test_moderated_job_fails_as_input(api: Any) -> None:
    api.get(JOB_URL).respond(200, json=job_reply("moderated", error="Content moderated"))
    outcome = provider().poll(UPSCALE_JOBID)
    assert outcome.state == JobState.FAILED
    assert outcome.error is not None
    assert outcome.error.kind == ErrorKind.INPUT
    assert "moderation" in outcome.error.message
    assert outcome.error.provider_message == "Content moderated"


def test_cancelled_job_fails(api: Any) -> None:
    api.get(JOB_URL).respond(200, json=job_reply("cancelled"))
    outcome = provider().poll(UPSCALE_JOBID)
    assert outcome.state == JobState.FAILED
    assert outcome.error is not None
    assert outcome.error.message == "The job was cancelled at useapi.net (Dreamina)."


def test_completed_without_images_is_a_failure(api: Any) -> None:
    api.get(JOB_URL).respond(200, json=job_reply("completed", response={"images": []}))
    outcome = provider().poll(UPSCALE_JOBID)
    assert outcome.state == JobState.FAILED
    assert outcome.error is not None
    assert "sent no image" in outcome.error.message


# ----- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (400, "seed_error_400_jobid_required", ErrorKind.INPUT, "refused the request"),
        (400, "seed_error_400_not_completed", ErrorKind.INPUT, "Wait until"),
        (401, "seed_error_401", ErrorKind.ACCOUNT, "did not accept the API token"),
        (404, "seed_error_404", ErrorKind.INPUT, "does not know this Dreamina job"),
    ],
)
def test_seed_errors(api: Any, status: int, body: str, kind: ErrorKind, words: str) -> None:
    api.post(CREATE_URL).respond(status, json=fixture(body))
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    error = caught.value
    assert (error.kind, error.status_code) == (kind, status)
    assert words in error.message
    assert "useapi.net" in error.message
    assert error.provider_message == fixture(body)["error"]
    assert not error.retryable


def test_not_completed_source_tells_the_user_to_wait(api: Any) -> None:
    api.post(CREATE_URL).respond(400, json=fixture("seed_error_400_not_completed"))
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert caught.value.message == (
        "The source Dreamina job has not finished yet. Wait until it is completed at "
        "useapi.net (Dreamina), then submit the upscale again."
    )


def test_402_is_an_expired_subscription(api: Any) -> None:
    api.post(CREATE_URL).respond(402, json={"error": "Subscription expired"})
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert caught.value.kind == ErrorKind.ACCOUNT
    assert "subscription has expired" in caught.value.message
    assert caught.value.provider_message == "Subscription expired"


def test_596_is_a_broken_account_session_and_permanent(api: Any) -> None:
    api.get(JOB_URL).respond(596, json={"error": "Session expired, please re-add account"})
    with pytest.raises(ProviderError) as caught:
        provider().poll(UPSCALE_JOBID)
    error = caught.value
    assert (error.kind, error.status_code) == (ErrorKind.ACCOUNT, 596)
    assert not error.retryable
    assert "Re-add the Dreamina account" in error.message
    assert error.provider_message == "Session expired, please re-add account"


def test_other_server_errors_are_transient(api: Any) -> None:
    api.get(JOB_URL).respond(503, text="<html>Service Unavailable</html>")
    with pytest.raises(ProviderError) as caught:
        provider().poll(UPSCALE_JOBID)
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert caught.value.provider_message == "<html>Service Unavailable</html>"


def test_429_honours_retry_after_seconds(api: Any) -> None:
    api.post(CREATE_URL).respond(
        429, json={"error": "All accounts are busy"}, headers={"Retry-After": "17"}
    )
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    error = caught.value
    assert (error.kind, error.retry_after) == (ErrorKind.TRANSIENT, 17.0)
    assert "busy" in error.message
    assert error.provider_message == "All accounts are busy"


def test_429_honours_retry_after_http_date(api: Any) -> None:
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    api.get(JOB_URL).respond(429, json={"error": "busy"}, headers={"Retry-After": when})
    with pytest.raises(ProviderError) as caught:
        provider().poll(UPSCALE_JOBID)
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert caught.value.retry_after is not None
    assert 80 <= caught.value.retry_after <= 91


def test_read_timeout_on_create_is_an_unknown_outcome(api: Any) -> None:
    api.post(CREATE_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME
    assert not caught.value.retryable


def test_read_timeout_on_poll_is_transient(api: Any) -> None:
    api.get(JOB_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        provider().poll(UPSCALE_JOBID)
    assert caught.value.kind == ErrorKind.TRANSIENT


def test_connect_error_is_transient(api: Any) -> None:
    api.post(CREATE_URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert "Could not reach useapi.net (Dreamina)" in caught.value.message


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>oops</html>"),
        httpx.Response(200, json=["not", "an", "object"]),
        httpx.Response(200, json={"status": "created"}),  # no jobid
    ],
)
def test_unreadable_create_reply_is_an_unknown_outcome(api: Any, reply: httpx.Response) -> None:
    api.post(CREATE_URL).mock(return_value=reply)
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME


def test_malformed_poll_reply_is_read_again(api: Any) -> None:
    api.get(JOB_URL).respond(200, text="{not json")
    with pytest.raises(ProviderError) as caught:
        provider().poll(UPSCALE_JOBID)
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert caught.value.provider_message == "{not json"


# ----- cancel --------------------------------------------------------------------------------
def test_cancel_deletes_the_job_from_the_scheduler(api: Any) -> None:
    route = api.delete(f"{BASE_URL}/v1/dreamina/scheduler/{ENCODED_UPSCALE_JOBID}").respond(204)
    assert provider().cancel(UPSCALE_JOBID) is True
    request = route.calls.last.request
    assert request.method == "DELETE"
    assert request.headers["Authorization"] == "Bearer k"


def test_cancel_of_a_job_no_longer_scheduled(api: Any) -> None:
    api.delete(f"{BASE_URL}/v1/dreamina/scheduler/{ENCODED_UPSCALE_JOBID}").respond(
        404, json={"error": "Job not found"}
    )
    assert provider().cancel(UPSCALE_JOBID) is False


def test_cancel_with_a_bad_token_raises(api: Any) -> None:
    api.delete(f"{BASE_URL}/v1/dreamina/scheduler/{ENCODED_UPSCALE_JOBID}").respond(
        401, json={"error": "Unauthorized"}
    )
    with pytest.raises(ProviderError) as caught:
        provider().cancel(UPSCALE_JOBID)
    assert caught.value.kind == ErrorKind.ACCOUNT


# ----- options and references ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"upscaleResolution": "16k"}, "upscaleResolution", "one of 2k, 4k, 8k"),
        ({"originalImageStrength": "1.5"}, "originalImageStrength", "between 0 and 1"),
        ({"detailStrength": "-0.1"}, "detailStrength", "between 0 and 1"),
        ({"detailStrength": "lots"}, "detailStrength", "must be a number"),
        ({"maxJobs": "51"}, "maxJobs", "between 1 and 50"),
        ({"maxJobs": "0"}, "maxJobs", "between 1 and 50"),
        ({"scale": "4"}, "scale", "is not an option"),
    ],
)
def test_option_validation(raw: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(OptionError) as caught:
        UseapiProvider.clean_options(raw)
    assert caught.value.field == field
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({}, "jobid", "is required"),
        ({"jobid": "  "}, "jobid", "is required"),
        ({"jobid": SOURCE_JOBID, "imageIndex": "4"}, "imageIndex", "between 0 and 3"),
        ({"jobid": SOURCE_JOBID, "imageIndex": "first"}, "imageIndex", "whole number"),
    ],
)
def test_reference_validation(raw: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(OptionError) as caught:
        UseapiProvider.clean_reference(raw)
    assert caught.value.field == field
    assert words in caught.value.message


def test_reference_defaults_to_the_first_image() -> None:
    assert UseapiProvider.clean_reference({"jobid": SOURCE_JOBID}) == {
        "jobid": SOURCE_JOBID,
        "imageIndex": 0,
    }


# ----- price -------------------------------------------------------------------------------------
def test_estimate_uses_the_editable_price_table() -> None:
    options = UseapiProvider.clean_options({"upscaleResolution": "8k"})
    assert UseapiProvider.price_key(options) == "8k"
    assert set(UseapiProvider.default_prices) == {"2k", "4k", "8k"}
    assert provider().estimate(options) == Cost(
        credits=Decimal(0), usd_micros=0, source="price_table"
    )


# ----- connection check and provider-side sources ----------------------------------------------
def test_check_connection_treats_unknown_job_as_key_accepted(api: Any) -> None:
    route = api.get(url__startswith=f"{BASE_URL}/v1/dreamina/images/").respond(
        404, json={"error": "Job not found"}
    )
    assert provider().check_connection() == "useapi.net (Dreamina) accepted the API token."
    request = route.calls.last.request
    assert request.method == "GET"
    assert request.headers["Authorization"] == "Bearer k"


@pytest.mark.parametrize("status", [401, 402, 596])
def test_check_connection_names_account_problems(api: Any, status: int) -> None:
    api.get(url__startswith=f"{BASE_URL}/v1/dreamina/images/").respond(
        status, json={"error": "nope"}
    )
    with pytest.raises(ProviderError) as caught:
        provider().check_connection()
    assert caught.value.kind == ErrorKind.ACCOUNT


def test_check_connection_tells_a_dead_host(api: Any) -> None:
    api.get(url__startswith=f"{BASE_URL}/v1/dreamina/images/").mock(
        side_effect=httpx.ConnectError("no route")
    )
    with pytest.raises(ProviderError) as caught:
        provider().check_connection()
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert "could not reach" in caught.value.message.lower()


def test_generate_source_starts_a_generation_and_returns_its_reference(api: Any) -> None:
    reply = {**SEED_REPLY, "jobid": SOURCE_JOBID, "type": "image"}
    route = api.post(f"{BASE_URL}/v1/dreamina/images").respond(200, json=reply)
    reference = provider().generate_source(" a lighthouse at dusk ")
    assert reference == {"jobid": SOURCE_JOBID, "imageIndex": 0}
    assert UseapiProvider.clean_reference(reference) == reference
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer k"
    assert sent_json(route) == {"prompt": "a lighthouse at dusk"}


def test_generate_source_needs_a_prompt() -> None:
    with respx.mock() as mock, pytest.raises(ProviderError) as caught:
        provider().generate_source("   ")
    assert caught.value.kind == ErrorKind.INPUT
    assert not mock.calls


def test_generate_source_read_timeout_is_an_unknown_outcome(api: Any) -> None:
    api.post(f"{BASE_URL}/v1/dreamina/images").mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        provider().generate_source("a lighthouse")
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME
