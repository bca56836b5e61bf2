"""Contract tests of the uwear.ai adapter against its documented requests and replies.

`fixtures/uwear/seed_create_reply.json` and `seed_create_request_schema.json` are the seed
document's reply and request-body examples, verbatim. The poll replies follow uwear's
wider docs (capitalised statuses, `generation_results[].image_url`); the 422 body is the
FastAPI shape uwear most likely sends (its error bodies are undocumented). No network:
respx answers every request.
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
from jobs.providers.uwear import UwearProvider

FIXTURES = Path(__file__).parent / "fixtures" / "uwear"
BASE_URL = "https://api.uwear.ai/api/v1"
CREATE_URL = f"{BASE_URL}/generation-upscale"
GENERATION_ID = "4711"
GENERATION_URL = f"{BASE_URL}/generation/{GENERATION_ID}"
PUBLIC_URL = "https://upscaler.example.com/public/source/eyJzIjo0Mn0:1tXyZ:abc/"
JOB_ID = "9a1b2c3d-4d6e-4a1b-9c7d-2e8f5a6b1c3d"
TOPAZ_SETTINGS = {
    "enhance_model": "Low Resolution V2",
    "upscale_factor": "6x",
    "face_enhancement": "true",
    "subject_detection": "Auto",
    "face_enhancement_creativity": "0.8",
}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def provider(base_url: str = BASE_URL) -> UwearProvider:
    return UwearProvider(api_key="k", base_url=base_url)


def url_request(**options: Any) -> JobRequest:
    return JobRequest(
        job_id=JOB_ID,
        options=UwearProvider.clean_options(options),
        source=SourceInput(kind=InputKind.PUBLIC_URL, public_url=PUBLIC_URL, width=64, height=48),
        webhook_url="https://upscaler.example.com/hooks/x",
    )


def reference_request(reference: dict[str, Any], **options: Any) -> JobRequest:
    return JobRequest(
        job_id=JOB_ID,
        options=UwearProvider.clean_options(options),
        source=SourceInput(kind=InputKind.REFERENCE, reference=reference),
    )


def sent_json(route: respx.Route) -> Any:
    return json.loads(route.calls.last.request.content)


def generation(status: str, **fields: Any) -> dict[str, Any]:
    return {**fixture("poll_done"), "status": status, "generation_results": [], **fields}


@pytest.fixture
def api() -> Any:
    with respx.mock(assert_all_called=True) as mock:
        yield mock


# ----- the adapter as the engine and the upload page see it ------------------------------
def test_describes_itself() -> None:
    assert UwearProvider.slug == "uwear"
    assert UwearProvider.name == "uwear.ai"
    assert UwearProvider.is_async is True
    assert UwearProvider.default_base_url == "https://api.uwear.ai/api/v1"
    assert UwearProvider.input_kinds == (InputKind.PUBLIC_URL, InputKind.REFERENCE)
    assert "upload" in UwearProvider.summary
    assert 2 <= UwearProvider.poll_interval <= 5


def test_options_are_the_documented_ones() -> None:
    options = {o.name: o for o in UwearProvider.options}
    assert options["model_name"].choices == ("recraft", "topaz")
    assert options["model_name"].default == "recraft"
    assert options["enhance_model"].choices == (
        "Standard V2",
        "Low Resolution V2",
        "High Fidelity V2",
    )
    assert options["enhance_model"].default == "High Fidelity V2"
    assert (options["upscale_factor"].choices, options["upscale_factor"].default) == (
        ("2x", "4x", "6x"),
        "4x",
    )
    assert (options["face_enhancement"].type, options["face_enhancement"].default) == (
        "bool",
        False,
    )
    assert options["subject_detection"].choices == ("Foreground", "Background", "Auto")
    assert options["subject_detection"].default == "Foreground"
    creativity = options["face_enhancement_creativity"]
    assert (creativity.type, creativity.minimum, creativity.maximum, creativity.default) == (
        "float",
        0.0,
        1.0,
        0.5,
    )
    assert all(option.help for option in UwearProvider.options)


# ----- create ------------------------------------------------------------------------------
def test_create_from_a_public_url_with_recraft(api: Any) -> None:
    route = api.post(CREATE_URL).respond(200, json=fixture("seed_create_reply"))
    provider().submit(url_request())
    request = route.calls.last.request
    assert request.method == "POST"
    assert str(request.url) == CREATE_URL
    assert request.headers["Authorization"] == "Bearer k"
    assert request.headers["Content-Type"] == "application/json"
    # recraft accepts no settings: none are sent, and only one input field.
    assert sent_json(route) == {"image_url": PUBLIC_URL, "model_name": "recraft"}


def test_create_from_a_result_with_topaz_settings_as_strings(api: Any) -> None:
    route = api.post(CREATE_URL).respond(200, json=fixture("seed_create_reply"))
    options = {**TOPAZ_SETTINGS, "model_name": "topaz"}
    provider().submit(reference_request({"generation_result_id": "9021"}, **options))
    assert sent_json(route) == {
        "generation_result_id": 9021,
        "model_name": "topaz",
        "generation_settings": TOPAZ_SETTINGS,
    }


def test_topaz_defaults_are_sent_in_the_schemas_string_form(api: Any) -> None:
    route = api.post(CREATE_URL).respond(200, json=fixture("seed_create_reply"))
    provider().submit(url_request(model_name="topaz"))
    assert sent_json(route)["generation_settings"] == {
        "enhance_model": "High Fidelity V2",
        "upscale_factor": "4x",
        "face_enhancement": "false",
        "subject_detection": "Foreground",
        "face_enhancement_creativity": "0.5",
    }


def test_body_keeps_to_the_seed_schema(api: Any) -> None:
    schema = fixture("seed_create_request_schema")
    route = api.post(CREATE_URL).respond(200, json=fixture("seed_create_reply"))
    provider().submit(url_request(model_name="topaz"))
    body = sent_json(route)
    assert set(body) <= set(schema)
    assert isinstance(body["image_url"], type(schema["image_url"]))
    # `additionalProperties: string`: every setting value is a string.
    assert all(isinstance(value, str) for value in body["generation_settings"].values())


def test_seed_reply_is_a_running_generation(api: Any) -> None:
    api.post(CREATE_URL).respond(200, json=fixture("seed_create_reply"))
    outcome = provider().submit(url_request())
    assert outcome.state == JobState.RUNNING
    assert outcome.provider_job_id == "0"  # the seed's example id is 0: still an id


@pytest.mark.parametrize(
    "base",
    [
        "https://api.uwear.ai",  # the bare path uwear is moving to
        "http://sandbox.test:8000/sandbox/uwear/api/v1",
    ],
)
def test_works_under_any_base_url(api: Any, base: str) -> None:
    create = api.post(f"{base}/generation-upscale").respond(
        200, json={"generation_id": 4711, "created_at": "x", "updated_at": "x"}
    )
    poll = api.get(f"{base}/generation/4711").respond(200, json=fixture("poll_done"))
    p = provider(base + "/")
    outcome = p.submit(url_request())
    assert p.poll(outcome.provider_job_id).state == JobState.SUCCEEDED
    assert create.called and poll.called


def test_a_missing_public_url_is_refused_before_sending() -> None:
    request = url_request()
    request.source.public_url = ""
    with respx.mock() as mock, pytest.raises(ProviderError) as caught:
        provider().submit(request)
    assert caught.value.kind == ErrorKind.INPUT
    assert "public link" in caught.value.message
    assert not mock.calls


def test_bad_reference_is_refused_before_sending() -> None:
    request = reference_request({"generation_result_id": "latest"})
    with respx.mock() as mock, pytest.raises(ProviderError) as caught:
        provider().submit(request)
    assert caught.value.kind == ErrorKind.INPUT
    assert "generation_result_id" in caught.value.message
    assert not mock.calls


# ----- poll ----------------------------------------------------------------------------------
def test_poll_request_field_by_field(api: Any) -> None:
    route = api.get(GENERATION_URL).respond(200, json=generation("Created"))
    provider().poll(GENERATION_ID)
    request = route.calls.last.request
    assert request.method == "GET"
    assert str(request.url) == GENERATION_URL
    assert request.headers["Authorization"] == "Bearer k"
    assert request.content == b""


def test_status_progression_to_done(api: Any) -> None:
    api.get(GENERATION_URL).mock(
        side_effect=[
            httpx.Response(200, json=generation("Created")),
            httpx.Response(200, json=generation("Ongoing")),
            httpx.Response(200, json=fixture("poll_done")),
        ]
    )
    p = provider()
    created, ongoing, done = (p.poll(GENERATION_ID) for _ in range(3))
    assert (created.state, created.progress) == (JobState.RUNNING, "created")
    assert (ongoing.state, ongoing.progress) == (JobState.RUNNING, "ongoing")
    assert done.state == JobState.SUCCEEDED
    assert done.provider_job_id == GENERATION_ID
    assert [r.url for r in done.results] == ["https://cdn.uwear.ai/generations/4711/upscaled.png"]
    assert done.cost is None  # no cost in replies: the engine prices it from the table


def test_unknown_status_is_still_running(api: Any) -> None:
    api.get(GENERATION_URL).respond(200, json=generation("Queued"))
    outcome = provider().poll(GENERATION_ID)
    assert outcome.state == JobState.RUNNING
    assert outcome.error is None


def test_error_generation_keeps_uwears_words(api: Any) -> None:
    api.get(GENERATION_URL).respond(200, json=fixture("poll_error"))
    outcome = provider().poll(GENERATION_ID)
    assert outcome.state == JobState.FAILED
    error = outcome.error
    assert error is not None and error.kind == ErrorKind.PROVIDER
    assert error.provider_message == "Upscale failed: could not download image_url"
    assert error.message == (
        "uwear.ai could not upscale this image: Upscale failed: could not download image_url."
    )


def test_error_generation_without_a_reason(api: Any) -> None:
    api.get(GENERATION_URL).respond(200, json=generation("Error"))
    error = provider().poll(GENERATION_ID).error
    assert error is not None
    assert error.message == "uwear.ai reported the upscale as failed."


def test_done_without_results_is_a_failure(api: Any) -> None:
    api.get(GENERATION_URL).respond(200, json=generation("Done"))
    outcome = provider().poll(GENERATION_ID)
    assert outcome.state == JobState.FAILED
    assert outcome.error is not None
    assert "sent no image" in outcome.error.message


# ----- errors --------------------------------------------------------------------------------
def test_422_validation_list_names_the_field(api: Any) -> None:
    api.post(CREATE_URL).respond(422, json=fixture("error_422_validation"))
    with pytest.raises(ProviderError) as caught:
        provider().submit(url_request(model_name="topaz"))
    error = caught.value
    assert (error.kind, error.status_code) == (ErrorKind.INPUT, 422)
    expected = (
        "generation_settings.upscale_factor: value is not a valid enumeration member; "
        "permitted: '2x', '4x', '6x'"
    )
    assert error.provider_message == expected
    assert error.message == f"uwear.ai refused the request: {expected}."


@pytest.mark.parametrize(
    ("status", "body", "kind", "words"),
    [
        (422, {"detail": "Provide exactly one of image_url or generation_result_id"}, "input", ""),
        (400, {"detail": "Image could not be downloaded"}, "input", "refused the request"),
        (401, {"detail": "Invalid API key"}, "account", "did not accept the API key"),
        (402, {"detail": "Not enough credits"}, "account", "run out of credits"),
        (403, {"detail": "API access not enabled"}, "account", "refused this API key access"),
        (404, {"detail": "Generation result not found"}, "input", "4 hours"),
        (500, {"detail": "Internal Server Error"}, "unknown_outcome", "server error"),
    ],
)
def test_status_errors(api: Any, status: int, body: dict[str, Any], kind: str, words: str) -> None:
    api.post(CREATE_URL).respond(status, json=body)
    with pytest.raises(ProviderError) as caught:
        provider().submit(url_request())
    error = caught.value
    assert (error.kind, error.status_code) == (ErrorKind(kind), status)
    assert words in error.message
    assert "uwear.ai" in error.message
    assert error.provider_message == body["detail"]


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (httpx.Response(401, text="<html>401 Authorization Required</html>"), "<html>401"),
        (httpx.Response(401, json={"message": "Unauthorized"}), "Unauthorized"),
        (httpx.Response(401, json=["odd", "shape"]), "odd"),
        (
            httpx.Response(401, json={"detail": [{"loc": "image_url", "msg": "bad"}, {}, "x"]}),
            "image_url: bad; x",
        ),
        (httpx.Response(401, json={"detail": {"code": 7}}), ""),
    ],
)
def test_unknown_error_shapes_are_handled(api: Any, reply: httpx.Response, words: str) -> None:
    api.post(CREATE_URL).mock(return_value=reply)
    with pytest.raises(ProviderError) as caught:
        provider().submit(url_request())
    assert caught.value.kind == ErrorKind.ACCOUNT
    assert words in caught.value.provider_message


def test_429_honours_retry_after_seconds(api: Any) -> None:
    api.post(CREATE_URL).respond(
        429, json={"detail": "Too many requests"}, headers={"Retry-After": "5"}
    )
    with pytest.raises(ProviderError) as caught:
        provider().submit(url_request())
    assert (caught.value.kind, caught.value.retry_after) == (ErrorKind.TRANSIENT, 5.0)


def test_429_honours_retry_after_http_date(api: Any) -> None:
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    api.get(GENERATION_URL).respond(
        429, json={"detail": "Too many requests"}, headers={"Retry-After": when}
    )
    with pytest.raises(ProviderError) as caught:
        provider().poll(GENERATION_ID)
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert caught.value.retry_after is not None
    assert 50 <= caught.value.retry_after <= 61


def test_read_timeout_on_create_is_an_unknown_outcome(api: Any) -> None:
    api.post(CREATE_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        provider().submit(url_request())
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME
    assert not caught.value.retryable


def test_read_timeout_on_poll_is_transient(api: Any) -> None:
    api.get(GENERATION_URL).mock(side_effect=httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderError) as caught:
        provider().poll(GENERATION_ID)
    assert caught.value.kind == ErrorKind.TRANSIENT


def test_connect_error_is_transient(api: Any) -> None:
    api.post(CREATE_URL).mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(ProviderError) as caught:
        provider().submit(url_request())
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert "Could not reach uwear.ai" in caught.value.message


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>oops</html>"),
        httpx.Response(200, json=[4711]),
        httpx.Response(200, json={"created_at": "x"}),  # no generation_id
        httpx.Response(200, json={"generation_id": ""}),
        httpx.Response(200, json={"generation_id": True}),
    ],
)
def test_unreadable_create_reply_is_an_unknown_outcome(api: Any, reply: httpx.Response) -> None:
    api.post(CREATE_URL).mock(return_value=reply)
    with pytest.raises(ProviderError) as caught:
        provider().submit(url_request())
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME


def test_malformed_poll_reply_is_read_again(api: Any) -> None:
    api.get(GENERATION_URL).respond(200, text="{not json")
    with pytest.raises(ProviderError) as caught:
        provider().poll(GENERATION_ID)
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert caught.value.provider_message == "{not json"


# ----- cancel --------------------------------------------------------------------------------
def test_there_is_no_cancel_call() -> None:
    with respx.mock() as mock:
        assert provider().cancel(GENERATION_ID) is False
    assert not mock.calls


# ----- options and references ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "field", "words"),
    [
        ({"model_name": "esrgan"}, "model_name", "one of recraft, topaz"),
        ({"model_name": "topaz", "upscale_factor": "8x"}, "upscale_factor", "2x, 4x, 6x"),
        (
            {"model_name": "topaz", "face_enhancement_creativity": "1.5"},
            "face_enhancement_creativity",
            "between 0 and 1",
        ),
        ({"model_name": "topaz", "face_enhancement": "maybe"}, "face_enhancement", "true or"),
        ({"model_name": "topaz", "subject_detection": "Sky"}, "subject_detection", "Auto"),
        ({"model_name": "topaz", "enhance_model": "V3"}, "enhance_model", "High Fidelity V2"),
    ],
)
def test_option_validation(raw: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(OptionError) as caught:
        UwearProvider.clean_options(raw)
    assert caught.value.field == field
    assert words in caught.value.message


@pytest.mark.parametrize(("name", "value"), list(TOPAZ_SETTINGS.items()))
def test_recraft_refuses_topaz_settings(name: str, value: str) -> None:
    with pytest.raises(OptionError) as caught:
        UwearProvider.clean_options({"model_name": "recraft", name: value})
    assert caught.value.field == name
    assert "only applies to the topaz model" in caught.value.message
    assert "recraft" in caught.value.message


def test_recraft_with_settings_at_their_defaults_is_fine() -> None:
    cleaned = UwearProvider.clean_options(
        {"model_name": "recraft", "upscale_factor": "4x", "face_enhancement": "false"}
    )
    assert cleaned["model_name"] == "recraft"


def test_topaz_takes_every_setting() -> None:
    cleaned = UwearProvider.clean_options({"model_name": "topaz", **TOPAZ_SETTINGS})
    assert cleaned["face_enhancement"] is True
    assert cleaned["face_enhancement_creativity"] == 0.8
    assert cleaned["upscale_factor"] == "6x"


@pytest.mark.parametrize(
    ("raw", "words"),
    [({}, "is required"), ({"generation_result_id": "abc"}, "whole number")],
)
def test_reference_validation(raw: dict[str, Any], words: str) -> None:
    with pytest.raises(OptionError) as caught:
        UwearProvider.clean_reference(raw)
    assert caught.value.field == "generation_result_id"
    assert words in caught.value.message


# ----- price -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("model", "credits"), [("recraft", 1), ("topaz", 3)])
def test_estimate_from_the_seed_price_list(model: str, credits: int) -> None:
    options = UwearProvider.clean_options({"model_name": model})
    assert UwearProvider.price_key(options) == model
    # A uwear credit's dollar price is not published: 0 until the team sets it.
    assert provider().estimate(options) == Cost(
        credits=Decimal(credits), usd_micros=0, source="price_table"
    )


# ----- connection check ------------------------------------------------------------------------
def test_check_connection_treats_unknown_generation_as_key_accepted(api: Any) -> None:
    route = api.get(f"{BASE_URL}/generation/0").respond(404, json={"detail": "Not found"})
    assert provider().check_connection() == "uwear.ai accepted the API key."
    assert route.calls.last.request.headers["Authorization"] == "Bearer k"


@pytest.mark.parametrize("status", [401, 402, 403])
def test_check_connection_names_account_problems(api: Any, status: int) -> None:
    api.get(f"{BASE_URL}/generation/0").respond(status, json={"detail": "nope"})
    with pytest.raises(ProviderError) as caught:
        provider().check_connection()
    assert caught.value.kind == ErrorKind.ACCOUNT


def test_check_connection_tells_a_dead_host(api: Any) -> None:
    api.get(f"{BASE_URL}/generation/0").mock(side_effect=httpx.ConnectError("no route"))
    with pytest.raises(ProviderError) as caught:
        provider().check_connection()
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert "could not reach" in caught.value.message.lower()
