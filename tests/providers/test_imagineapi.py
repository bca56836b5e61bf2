"""Contract tests of the ImagineAPI (Enhance) adapter against its documented requests and replies.

`fixtures/imagineapi/seed_*.json` are the seed document's create and poll replies,
verbatim. The other fixtures follow the same image object (`in-progress`, `failed` with
`error`) and Directus' error body. No network: respx answers every request.
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
from jobs.providers.imagineapi import ImagineapiProvider

FIXTURES = Path(__file__).parent / "fixtures" / "imagineapi"
BASE_URL = "https://cl.imagineapi.dev"
SOURCE_ID = "88391189-2b24-468c-96ce-ee47c4cb404d"  # the seed's example image
UPSCALE_ID = "53b1d01e-12de-413e-b94d-a562270e89f6"  # the seed's new image object
CREATE_URL = f"{BASE_URL}/items/images/{SOURCE_ID}/0/upscale/2x"
IMAGE_URL = f"{BASE_URL}/items/images/{UPSCALE_ID}"
JOB_ID = "5c0ffee0-4d6e-4a1b-9c7d-2e8f5a6b1c3d"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def provider(base_url: str = BASE_URL) -> ImagineapiProvider:
    return ImagineapiProvider(api_key="k", base_url=base_url)


def job_request(reference: dict[str, Any] | None = None, **options: Any) -> JobRequest:
    return JobRequest(
        job_id=JOB_ID,
        options=ImagineapiProvider.clean_options(options),
        source=SourceInput(
            kind=InputKind.REFERENCE,
            reference=reference if reference is not None else {"image_id": SOURCE_ID},
        ),
        webhook_url="https://upscaler.example.com/hooks/x",
    )


def image_reply(**fields: Any) -> dict[str, Any]:
    reply = fixture("seed_create_reply")
    reply["data"].update(fields)
    return reply


def directus_error(code: str, message: str = "Something went wrong.") -> dict[str, Any]:
    return {"errors": [{"message": message, "extensions": {"code": code}}]}


@pytest.fixture
def api() -> Any:
    with respx.mock(assert_all_called=True) as mock:
        yield mock


# ----- the adapter as the engine and the upload page see it ------------------------------
def test_describes_itself() -> None:
    assert ImagineapiProvider.slug == "imagineapi"
    assert ImagineapiProvider.name == "ImagineAPI"
    assert ImagineapiProvider.is_async is True
    assert ImagineapiProvider.default_base_url == "https://cl.imagineapi.dev"
    assert ImagineapiProvider.input_kinds == (InputKind.REFERENCE,)
    assert "image" in ImagineapiProvider.summary and "id" in ImagineapiProvider.summary
    assert 2 <= ImagineapiProvider.poll_interval <= 5
    # Jobs are reported stuck in pending for hours: the engine gives up after 20 minutes.
    assert ImagineapiProvider.deadline_seconds == 20 * 60


def test_scale_option_and_reference_fields() -> None:
    [scale] = ImagineapiProvider.options
    assert scale.describe()["choices"] == ["2x", "4x", "6x", "8x", "10x", "12x"]
    assert scale.default == "2x"
    image_id, index = ImagineapiProvider.reference_fields
    assert (image_id.name, image_id.required) == ("image_id", True)
    assert (index.name, index.default, index.minimum, index.maximum) == ("index", 0, 0, 3)


def test_twelve_x_results_fit_the_pixel_cap() -> None:
    # 12x of a 1024 px picture is 12288 px a side, beyond the default 8192 px cap; the
    # largest image WebP can hold is 16383 px a side.
    assert ImagineapiProvider.max_result_pixels == 16383 * 16383


# ----- create ------------------------------------------------------------------------------
def test_create_request_field_by_field(api: Any) -> None:
    route = api.post(CREATE_URL).respond(200, json=fixture("seed_create_reply"))
    provider().submit(job_request())
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == CREATE_URL
    assert request.headers["Authorization"] == "Bearer k"
    assert request.content == b""  # everything travels in the path


@pytest.mark.parametrize(("index", "scale"), [(0, "4x"), (1, "6x"), (2, "10x"), (3, "12x")])
def test_index_and_scale_go_into_the_path(api: Any, index: int, scale: str) -> None:
    url = f"{BASE_URL}/items/images/{SOURCE_ID}/{index}/upscale/{scale}"
    route = api.post(url).respond(200, json=fixture("seed_create_reply"))
    provider().submit(job_request({"image_id": SOURCE_ID, "index": str(index)}, scale=scale))
    assert route.called


def test_create_reply_is_the_new_image_object(api: Any) -> None:
    api.post(CREATE_URL).respond(200, json=fixture("seed_create_reply"))
    outcome = provider().submit(job_request())
    assert outcome.state == JobState.RUNNING
    assert outcome.provider_job_id == UPSCALE_ID  # the new id, not the parent's
    assert outcome.progress == "pending"


def test_works_under_any_base_url(api: Any) -> None:
    base = "http://sandbox.test:8000/sandbox/imagineapi"
    create = api.post(f"{base}/items/images/{SOURCE_ID}/0/upscale/2x").respond(
        200, json=fixture("seed_create_reply")
    )
    poll = api.get(f"{base}/items/images/{UPSCALE_ID}").respond(
        200, json=fixture("seed_poll_completed")
    )
    p = provider(base + "/")
    outcome = p.submit(job_request())
    assert p.poll(outcome.provider_job_id).state == JobState.SUCCEEDED
    assert create.called and poll.called


def test_bad_reference_is_refused_before_sending() -> None:
    request = job_request({"image_id": "../../users/me", "index": 0})
    with respx.mock() as mock, pytest.raises(ProviderError) as caught:
        provider().submit(request)
    assert caught.value.kind == ErrorKind.INPUT
    assert "image_id" in caught.value.message
    assert not mock.calls


def test_an_upload_is_refused_before_sending() -> None:
    request = JobRequest(
        job_id=JOB_ID,
        options=ImagineapiProvider.clean_options({}),
        source=SourceInput(kind=InputKind.PUBLIC_URL, public_url="https://example.com/a.png"),
    )
    with respx.mock() as mock, pytest.raises(ProviderError) as caught:
        provider().submit(request)
    assert caught.value.kind == ErrorKind.INPUT
    assert "image id" in caught.value.message
    assert not mock.calls


# ----- poll ----------------------------------------------------------------------------------
def test_poll_request_field_by_field(api: Any) -> None:
    route = api.get(IMAGE_URL).respond(200, json=fixture("seed_create_reply"))
    provider().poll(UPSCALE_ID)
    request = route.calls.last.request
    assert request.method == "GET"
    assert str(request.url) == IMAGE_URL
    assert request.headers["Authorization"] == "Bearer k"
    assert request.content == b""


def test_status_progression_to_completed(api: Any) -> None:
    api.get(IMAGE_URL).mock(
        side_effect=[
            httpx.Response(200, json=fixture("seed_create_reply")),
            httpx.Response(200, json=fixture("poll_in_progress")),
            httpx.Response(200, json=fixture("seed_poll_completed")),
        ]
    )
    p = provider()
    pending, in_progress, done = (p.poll(UPSCALE_ID) for _ in range(3))
    assert (pending.state, pending.progress) == (JobState.RUNNING, "pending")
    assert (in_progress.state, in_progress.progress) == (JobState.RUNNING, "in-progress 45%")
    assert done.state == JobState.SUCCEEDED
    [result] = done.results
    assert result.url == fixture("seed_poll_completed")["data"]["url"]
    assert result.url.endswith(".webp")
    # No cost in replies: the engine prices the job from the table.
    assert done.cost is None


def test_unknown_status_is_still_running(api: Any) -> None:
    api.get(IMAGE_URL).respond(200, json=image_reply(status="queued-at-midjourney"))
    outcome = provider().poll(UPSCALE_ID)
    assert outcome.state == JobState.RUNNING
    assert outcome.error is None


def test_failed_job_keeps_imagineapis_words(api: Any) -> None:
    api.get(IMAGE_URL).respond(200, json=fixture("poll_failed"))
    outcome = provider().poll(UPSCALE_ID)
    assert outcome.state == JobState.FAILED
    error = outcome.error
    assert error is not None and error.kind == ErrorKind.PROVIDER
    assert error.provider_message == "Upscale failed: source image could not be processed"
    assert error.message == (
        "ImagineAPI could not upscale this image: "
        "Upscale failed: source image could not be processed."
    )
    # Credits are refunded on failure: nothing to capture.
    assert outcome.cost is None


def test_failed_job_without_a_reason(api: Any) -> None:
    api.get(IMAGE_URL).respond(200, json=image_reply(status="failed"))
    error = provider().poll(UPSCALE_ID).error
    assert error is not None
    assert error.message == "ImagineAPI reported the upscale as failed."


def test_completed_without_url_is_a_failure(api: Any) -> None:
    api.get(IMAGE_URL).respond(200, json=image_reply(status="completed", url=None))
    outcome = provider().poll(UPSCALE_ID)
    assert outcome.state == JobState.FAILED
    assert outcome.error is not None
    assert "sent no image" in outcome.error.message


# ----- errors --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "code", "kind", "words"),
    [
        (400, "FAILED_VALIDATION", ErrorKind.INPUT, "refused the request"),
        (400, "INVALID_PAYLOAD", ErrorKind.INPUT, "refused the request"),
        (401, "INVALID_CREDENTIALS", ErrorKind.ACCOUNT, "did not accept the API key"),
        (401, "TOKEN_EXPIRED", ErrorKind.ACCOUNT, "did not accept the API key"),
        (403, "INVALID_TOKEN", ErrorKind.ACCOUNT, "did not accept the API key"),
        (403, "FORBIDDEN", ErrorKind.INPUT, "does not know this image"),
        (404, "ROUTE_NOT_FOUND", ErrorKind.ACCOUNT, "Check the account's base URL"),
        (429, "REQUESTS_EXCEEDED", ErrorKind.TRANSIENT, "rate-limiting"),
        (503, "SERVICE_UNAVAILABLE", ErrorKind.TRANSIENT, "unavailable"),
    ],
)
def test_directus_errors(api: Any, status: int, code: str, kind: ErrorKind, words: str) -> None:
    api.post(CREATE_URL).respond(status, json=directus_error(code, "The provider's words."))
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    error = caught.value
    assert (error.kind, error.status_code) == (kind, status)
    assert words in error.message
    assert "ImagineAPI" in error.message
    assert error.provider_message == f"{code}: The provider's words."


def test_unknown_image_id_answers_403_on_create(api: Any) -> None:
    api.post(CREATE_URL).respond(403, json=fixture("error_forbidden"))
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    error = caught.value
    assert error.kind == ErrorKind.INPUT
    assert error.message.startswith(
        "ImagineAPI does not know this image, or the key may not use it."
    )
    assert error.provider_message == "FORBIDDEN: You don't have permission to access this."


def test_unknown_image_id_answers_403_on_poll(api: Any) -> None:
    api.get(IMAGE_URL).respond(403, json=fixture("error_forbidden"))
    with pytest.raises(ProviderError) as caught:
        provider().poll(UPSCALE_ID)
    assert caught.value.kind == ErrorKind.INPUT
    assert "does not know this image" in caught.value.message


def test_errors_without_a_directus_body_fall_back_on_the_status(api: Any) -> None:
    api.get(IMAGE_URL).respond(502, text="<html>Bad gateway</html>")
    with pytest.raises(ProviderError) as caught:
        provider().poll(UPSCALE_ID)
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert caught.value.provider_message == "<html>Bad gateway</html>"


def test_out_of_credits(api: Any) -> None:
    api.post(CREATE_URL).respond(402, json={"errors": [{"message": "Not enough credits"}]})
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert caught.value.kind == ErrorKind.ACCOUNT
    assert caught.value.provider_message == "Not enough credits"


def test_429_honours_retry_after_seconds(api: Any) -> None:
    api.post(CREATE_URL).respond(
        429, json=directus_error("REQUESTS_EXCEEDED"), headers={"Retry-After": "30"}
    )
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert (caught.value.kind, caught.value.retry_after) == (ErrorKind.TRANSIENT, 30.0)


def test_429_honours_retry_after_http_date(api: Any) -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    api.get(IMAGE_URL).respond(
        429, json=directus_error("REQUESTS_EXCEEDED"), headers={"Retry-After": when}
    )
    with pytest.raises(ProviderError) as caught:
        provider().poll(UPSCALE_ID)
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert caught.value.retry_after is not None
    assert 110 <= caught.value.retry_after <= 121


def test_read_timeout_on_create_is_an_unknown_outcome(api: Any) -> None:
    api.post(CREATE_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME
    assert not caught.value.retryable


def test_read_timeout_on_poll_is_transient(api: Any) -> None:
    api.get(IMAGE_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        provider().poll(UPSCALE_ID)
    assert caught.value.kind == ErrorKind.TRANSIENT


def test_connect_error_is_transient(api: Any) -> None:
    api.post(CREATE_URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert "Could not reach ImagineAPI" in caught.value.message


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>oops</html>"),
        httpx.Response(200, json={"data": None}),
        httpx.Response(200, json={"data": {"status": "pending"}}),  # no id
    ],
)
def test_unreadable_create_reply_is_an_unknown_outcome(api: Any, reply: httpx.Response) -> None:
    api.post(CREATE_URL).mock(return_value=reply)
    with pytest.raises(ProviderError) as caught:
        provider().submit(job_request())
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME


def test_malformed_poll_reply_is_read_again(api: Any) -> None:
    api.get(IMAGE_URL).respond(200, text="{not json")
    with pytest.raises(ProviderError) as caught:
        provider().poll(UPSCALE_ID)
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert caught.value.provider_message == "{not json"


# ----- cancel --------------------------------------------------------------------------------
def test_there_is_no_cancel_call() -> None:
    with respx.mock() as mock:
        assert provider().cancel(UPSCALE_ID) is False
    assert not mock.calls


# ----- options and references ------------------------------------------------------------------
def test_option_validation() -> None:
    with pytest.raises(OptionError) as caught:
        ImagineapiProvider.clean_options({"scale": "3x"})
    assert caught.value.field == "scale"
    assert "one of 2x, 4x, 6x, 8x, 10x, 12x" in caught.value.message


@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({}, "image_id", "is required"),
        ({"image_id": "not-a-uuid"}, "image_id", "a UUID"),
        ({"image_id": f"{SOURCE_ID}/0/upscale/12x"}, "image_id", "at most 36 characters"),
        ({"image_id": SOURCE_ID, "index": "4"}, "index", "between 0 and 3"),
        ({"image_id": SOURCE_ID, "index": "-1"}, "index", "between 0 and 3"),
    ],
)
def test_reference_validation(raw: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(OptionError) as caught:
        ImagineapiProvider.clean_reference(raw)
    assert caught.value.field == field
    assert words in caught.value.message


def test_reference_defaults_to_the_first_picture() -> None:
    assert ImagineapiProvider.clean_reference({"image_id": SOURCE_ID}) == {
        "image_id": SOURCE_ID,
        "index": 0,
    }


# ----- price -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("scale", "credits"),
    [("2x", 3), ("4x", 10), ("6x", 35), ("8x", 45), ("10x", 80), ("12x", 100)],
)
def test_estimate_from_the_seed_price_list(scale: str, credits: int) -> None:
    options = ImagineapiProvider.clean_options({"scale": scale})
    assert ImagineapiProvider.price_key(options) == scale
    # 1 credit = $0.01 = 10,000 micro-dollars.
    assert provider().estimate(options) == Cost(
        credits=Decimal(credits), usd_micros=credits * 10_000, source="price_table"
    )


# ----- connection check and provider-side sources ----------------------------------------------
def test_check_connection_treats_forbidden_unknown_id_as_key_accepted(api: Any) -> None:
    route = api.get(f"{BASE_URL}/items/images/00000000-0000-0000-0000-000000000000").respond(
        403, json=fixture("error_forbidden")
    )
    assert provider().check_connection() == "ImagineAPI accepted the API key."
    assert route.calls.last.request.headers["Authorization"] == "Bearer k"


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, "INVALID_CREDENTIALS"), (403, "INVALID_TOKEN"), (404, "ROUTE_NOT_FOUND")],
)
def test_check_connection_names_account_problems(api: Any, status: int, code: str) -> None:
    api.get(url__startswith=f"{BASE_URL}/items/images/").respond(status, json=directus_error(code))
    with pytest.raises(ProviderError) as caught:
        provider().check_connection()
    assert caught.value.kind == ErrorKind.ACCOUNT


def test_check_connection_tells_a_dead_host(api: Any) -> None:
    api.get(url__startswith=f"{BASE_URL}/items/images/").mock(
        side_effect=httpx.ConnectError("no route")
    )
    with pytest.raises(ProviderError) as caught:
        provider().check_connection()
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert "could not reach" in caught.value.message.lower()


def test_generate_source_starts_a_generation_and_returns_its_reference(api: Any) -> None:
    reply = image_reply(id=SOURCE_ID, parent_id=None, model_type=None, upscale_factor=None)
    route = api.post(f"{BASE_URL}/items/images").respond(200, json=reply)
    reference = provider().generate_source("a crystal-clear mountain landscape at sunrise")
    assert reference == {"image_id": SOURCE_ID, "index": 0}
    assert ImagineapiProvider.clean_reference(reference) == reference
    request = route.calls.last.request
    assert request.headers["Authorization"] == "Bearer k"
    assert json.loads(request.content) == {
        "prompt": "a crystal-clear mountain landscape at sunrise"
    }


def test_generate_source_needs_a_prompt() -> None:
    with respx.mock() as mock, pytest.raises(ProviderError) as caught:
        provider().generate_source("")
    assert caught.value.kind == ErrorKind.INPUT
    assert not mock.calls
