"""Contract tests of the Ideogram upscale adapter against its documented requests and replies.

`fixtures/ideogram/success.json` is the example reply of the seed document, verbatim; the
other fixtures follow the documented shapes (several images, an unsafe one, 402, 422).
No network: respx answers every request.
"""

from __future__ import annotations

import email.parser
import email.policy
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
    ErrorKind,
    InputKind,
    JobRequest,
    JobState,
    OptionError,
    ProviderError,
    SourceInput,
)
from jobs.providers.ideogram import IdeogramProvider

FIXTURES = Path(__file__).parent / "fixtures" / "ideogram"
BASE_URL = "https://api.ideogram.ai"
ENDPOINT = f"{BASE_URL}/upscale"
IMAGE = b"\x89PNG\r\n\x1a\n" + b"source pixels"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def provider(base_url: str = BASE_URL) -> IdeogramProvider:
    return IdeogramProvider(api_key="k", base_url=base_url)


def job_request(**options: Any) -> JobRequest:
    return JobRequest(
        job_id="7c1d2e3f-4a5b-6c7d-8e9f-0a1b2c3d4e5f",
        options=IdeogramProvider.clean_options(options),
        source=SourceInput(
            kind=InputKind.UPLOAD,
            data=IMAGE,
            filename="holiday photo.png",
            content_type="image/png",
            width=64,
            height=48,
        ),
    )


def parts_of(request: httpx.Request) -> dict[str, Any]:
    """The multipart parts by name: (filename, content type, bytes)."""
    head = f"Content-Type: {request.headers['Content-Type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    return {
        part.get_param("name", header="content-disposition"): (
            part.get_filename(),
            part.get("Content-Type"),
            part.get_payload(decode=True),
        )
        for part in message.iter_parts()
    }


def image_request_sent(route: respx.Route) -> dict[str, Any]:
    filename, content_type, payload = parts_of(route.calls.last.request)["image_request"]
    assert filename is None and content_type is None  # a plain text field, not a file
    return json.loads(payload)


def submit_error(response: httpx.Response | Exception) -> ProviderError:
    with respx.mock:
        respx.post(ENDPOINT).mock(side_effect=[response])
        with pytest.raises(ProviderError) as caught:
            provider().submit(job_request())
    return caught.value


# ----- the request -------------------------------------------------------------------------
@respx.mock
def test_request_is_sent_as_documented() -> None:
    route = respx.post(ENDPOINT).respond(200, json=fixture("success"))
    provider().submit(
        job_request(
            prompt="A photo of a cat",
            resemblance="55",
            detail=90,
            magic_prompt_option="OFF",
            num_images=2,
            seed=12345,
        )
    )

    assert route.call_count == 1
    sent = route.calls.last.request
    assert sent.method == "POST"
    assert str(sent.url) == ENDPOINT
    assert sent.headers["Api-Key"] == "k"
    assert "Authorization" not in sent.headers
    assert sent.headers["Content-Type"].startswith("multipart/form-data; boundary=")
    parts = parts_of(sent)
    assert set(parts) == {"image_request", "image_file"}
    assert parts["image_file"] == ("image.png", "image/png", IMAGE)
    assert image_request_sent(route) == {
        "prompt": "A photo of a cat",
        "resemblance": 55,
        "detail": 90,
        "magic_prompt_option": "OFF",
        "num_images": 2,
        "seed": 12345,
    }


@respx.mock
def test_unset_options_are_left_to_ideogram() -> None:
    route = respx.post(ENDPOINT).respond(200, json=fixture("success"))
    provider().submit(job_request(prompt=""))
    assert image_request_sent(route) == {"resemblance": 50, "detail": 50, "num_images": 1}


@respx.mock
def test_seed_zero_is_sent() -> None:
    route = respx.post(ENDPOINT).respond(200, json=fixture("success"))
    provider().submit(job_request(seed=0))
    assert image_request_sent(route)["seed"] == 0


@respx.mock
def test_jpeg_and_webp_keep_their_type() -> None:
    route = respx.post(ENDPOINT).respond(200, json=fixture("success"))
    request = job_request()
    request.source.content_type = "image/webp"
    provider().submit(request)
    filename, content_type, _ = parts_of(route.calls.last.request)["image_file"]
    assert (filename, content_type) == ("image.webp", "image/webp")


@respx.mock
def test_submit_waits_minutes_for_the_reply() -> None:
    route = respx.post(ENDPOINT).respond(200, json=fixture("success"))
    provider().submit(job_request())
    assert route.calls.last.request.extensions["timeout"]["read"] >= 120


@respx.mock
def test_any_base_url_works_such_as_the_sandbox() -> None:
    sandbox = "http://127.0.0.1:8000/sandbox/ideogram"
    route = respx.post(f"{sandbox}/upscale").respond(200, json=fixture("success"))
    provider(base_url=sandbox).submit(job_request())
    assert route.call_count == 1


def test_a_job_without_an_upload_is_refused_before_sending() -> None:
    request = job_request()
    request.source = SourceInput(kind=InputKind.REFERENCE, reference={"id": "x"})
    with respx.mock(assert_all_called=False) as mock:
        route = mock.post(ENDPOINT)
        with pytest.raises(ProviderError) as caught:
            provider().submit(request)
    assert caught.value.kind == ErrorKind.INPUT
    assert not route.called


# ----- replies -------------------------------------------------------------------------------
@respx.mock
def test_documented_reply_gives_one_result_priced_per_image() -> None:
    respx.post(ENDPOINT).respond(200, json=fixture("success"))
    outcome = provider().submit(job_request())

    assert outcome.state == JobState.SUCCEEDED
    [result] = outcome.results
    assert result.url == fixture("success")["data"][0]["url"]
    assert "exp=" in result.url  # an expiring link: the engine downloads it at once
    assert (result.width, result.height, result.is_safe) == (1280, 800, True)
    assert outcome.cost is not None
    assert (outcome.cost.source, outcome.cost.credits, outcome.cost.usd_micros) == (
        "price_table",
        Decimal(1),
        60_000,
    )


@respx.mock
def test_several_images_are_all_results_and_the_unsafe_one_is_withheld() -> None:
    respx.post(ENDPOINT).respond(200, json=fixture("success_several"))
    outcome = provider().submit(job_request(num_images=3))

    assert [r.is_safe for r in outcome.results] == [True, False, True]
    assert outcome.results[0].url.startswith("https://ideogram.ai/api/images/ephemeral/first.png")
    assert outcome.results[1].url == "" and outcome.results[1].data is None
    assert outcome.results[2].url.startswith("https://ideogram.ai/api/images/ephemeral/third.png")
    # The unsafe image is billed too.
    assert outcome.cost is not None
    assert (outcome.cost.credits, outcome.cost.usd_micros) == (Decimal(3), 180_000)


@respx.mock
def test_any_2xx_is_accepted() -> None:
    respx.post(ENDPOINT).respond(201, json=fixture("success"))
    assert provider().submit(job_request()).state == JobState.SUCCEEDED


@pytest.mark.parametrize(
    "body",
    [
        {"created": "2000-01-23 04:56:07+00:00", "data": []},
        {"created": "2000-01-23 04:56:07+00:00", "data": None},
        {"data": [{"is_image_safe": True, "url": None}]},
        ["not", "an", "object"],
    ],
)
def test_a_2xx_without_an_image_is_a_provider_error(body: Any) -> None:
    error = submit_error(httpx.Response(200, json=body))
    assert error.kind == ErrorKind.PROVIDER
    assert error.message == "Ideogram answered without an upscaled image, so the job failed."


@pytest.mark.parametrize("content", [b"<html>oops</html>", b"", b'{"data": ['])
def test_malformed_json_in_a_2xx_is_a_clear_provider_error(content: bytes) -> None:
    error = submit_error(httpx.Response(200, content=content))
    assert error.kind == ErrorKind.PROVIDER
    assert error.message == "Ideogram sent a reply that is not JSON."


# ----- errors --------------------------------------------------------------------------------
def test_400_is_an_input_error_with_their_words() -> None:
    error = submit_error(httpx.Response(400, json={"detail": "Invalid image file"}))
    assert error.kind == ErrorKind.INPUT
    assert error.message == "Ideogram refused the request as invalid."
    assert error.provider_message == "Invalid image file"


def test_bad_key_is_an_account_error() -> None:
    error = submit_error(httpx.Response(401, json={"detail": "Unauthorized"}))
    assert error.kind == ErrorKind.ACCOUNT
    assert "API key" in error.message


def test_402_insufficient_funds_is_an_account_error_that_says_so() -> None:
    error = submit_error(httpx.Response(402, json=fixture("error_insufficient_funds")))
    assert error.kind == ErrorKind.ACCOUNT
    assert error.message.startswith("The Ideogram account has run out of funds.")
    assert error.provider_message == "Payment required"


def test_402_with_another_reason_names_it_in_plain_words() -> None:
    error = submit_error(httpx.Response(402, json={"reject_reason": "billing_not_set_up"}))
    assert error.kind == ErrorKind.ACCOUNT
    assert error.message == "Ideogram refused to bill the account (billing not set up)."
    assert error.provider_message == "billing_not_set_up"


def test_403_is_an_account_error() -> None:
    error = submit_error(httpx.Response(403, json={"detail": "Forbidden"}))
    assert error.kind == ErrorKind.ACCOUNT
    assert "Ideogram refused access" in error.message


def test_413_is_an_input_error_naming_the_limit() -> None:
    error = submit_error(httpx.Response(413, text="Request Entity Too Large"))
    assert error.kind == ErrorKind.INPUT
    assert error.message == "The image is too large for Ideogram (it takes files up to 10 MB)."


def test_422_safety_check_is_an_input_error_with_its_message() -> None:
    error = submit_error(httpx.Response(422, json=fixture("error_safety")))
    assert error.kind == ErrorKind.INPUT
    assert error.message == "Ideogram refused this image: it failed Ideogram's safety check."
    assert error.provider_message == "Prompt or Initial Image failed the safety check."


def test_other_422_is_an_input_error() -> None:
    error = submit_error(httpx.Response(422, json={"error": "Image could not be decoded"}))
    assert error.kind == ErrorKind.INPUT
    assert error.message == "Ideogram could not process this image."


def test_429_honours_retry_after_seconds() -> None:
    error = submit_error(
        httpx.Response(429, json={"detail": "Too many requests"}, headers={"Retry-After": "30"})
    )
    assert error.kind == ErrorKind.TRANSIENT
    assert error.retry_after == 30.0
    assert "10 requests at a time" in error.message


def test_429_honours_retry_after_as_an_http_date() -> None:
    when = email.utils.formatdate(time.time() + 90, usegmt=True)
    error = submit_error(httpx.Response(429, headers={"Retry-After": when}))
    assert error.kind == ErrorKind.TRANSIENT
    assert error.retry_after is not None
    assert 85 <= error.retry_after <= 91


def test_unavailable_is_transient() -> None:
    error = submit_error(httpx.Response(503, text="upstream failure"))
    assert error.kind == ErrorKind.TRANSIENT
    assert error.message == "Ideogram had a server error (503); we will try again shortly."
    assert error.provider_message == "upstream failure"


@pytest.mark.parametrize("status", [500, 502, 504])
def test_server_error_on_a_create_is_an_unknown_outcome(status: int) -> None:
    """Ideogram does not document that failed requests are free: never resend blindly."""
    error = submit_error(httpx.Response(status, text="Gateway Timeout"))
    assert error.kind == ErrorKind.UNKNOWN_OUTCOME
    assert not error.retryable
    assert "may or may not" in error.message


def test_read_timeout_after_sending_is_an_unknown_outcome_and_not_resent() -> None:
    with respx.mock:
        route = respx.post(ENDPOINT).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(ProviderError) as caught:
            provider().submit(job_request())
        assert route.call_count == 1
    assert caught.value.kind == ErrorKind.UNKNOWN_OUTCOME


def test_connect_error_is_transient() -> None:
    error = submit_error(httpx.ConnectError("connection refused"))
    assert error.kind == ErrorKind.TRANSIENT
    assert error.message.startswith("Could not reach Ideogram")


# ----- options and prices --------------------------------------------------------------------
def test_defaults_are_applied() -> None:
    assert IdeogramProvider.clean_options({}) == {
        "prompt": None,
        "resemblance": 50,
        "detail": 50,
        "magic_prompt_option": None,
        "num_images": 1,
        "seed": None,
    }


@pytest.mark.parametrize(
    ("raw", "field", "allowed"),
    [
        ({"resemblance": 0}, "resemblance", "between 1 and 100"),
        ({"resemblance": 101}, "resemblance", "between 1 and 100"),
        ({"detail": 0}, "detail", "between 1 and 100"),
        ({"num_images": 9}, "num_images", "between 1 and 8"),
        ({"num_images": 0}, "num_images", "between 1 and 8"),
        ({"seed": -1}, "seed", "between 0 and 2147483647"),
        ({"seed": 2147483648}, "seed", "between 0 and 2147483647"),
        ({"magic_prompt_option": "MAYBE"}, "magic_prompt_option", "AUTO, ON, OFF"),
        ({"detail": "high"}, "detail", "whole number"),
        ({"style_type": "ANIME"}, "style_type", "not an option"),
    ],
)
def test_wrong_options_are_refused_naming_the_field(
    raw: dict[str, Any], field: str, allowed: str
) -> None:
    with pytest.raises(OptionError) as caught:
        IdeogramProvider.clean_options(raw)
    assert caught.value.field == field
    assert allowed in caught.value.message


def test_every_documented_option_is_described() -> None:
    described = {o.name: o.describe() for o in IdeogramProvider.options}
    assert list(described) == [
        "prompt",
        "resemblance",
        "detail",
        "magic_prompt_option",
        "num_images",
        "seed",
    ]
    assert described["magic_prompt_option"]["choices"] == ["AUTO", "ON", "OFF"]
    assert all(d.get("help") for d in described.values())


@pytest.mark.parametrize(("num_images", "usd_micros"), [(1, 60_000), (4, 240_000), (8, 480_000)])
def test_estimate_is_a_flat_price_per_output_image(num_images: int, usd_micros: int) -> None:
    options = IdeogramProvider.clean_options({"num_images": num_images})
    cost = provider().estimate(options)
    assert (cost.credits, cost.usd_micros, cost.source) == (
        Decimal(num_images),
        usd_micros,
        "price_table",
    )
    assert IdeogramProvider.credit_unit == "images"


def test_limits_follow_the_seed() -> None:
    limits = IdeogramProvider.limits
    assert limits.formats == frozenset({"JPEG", "PNG", "WEBP"})
    assert limits.problems(format="GIF", size_bytes=10_000_001, width=9000, height=9000) == [
        "takes JPEG, PNG, WEBP only, not GIF",
        "takes files up to 10.0 MB",
    ]


def test_identity() -> None:
    assert (IdeogramProvider.slug, IdeogramProvider.name) == ("ideogram", "Ideogram")
    assert IdeogramProvider.default_base_url == BASE_URL
    assert IdeogramProvider.input_kinds == (InputKind.UPLOAD,)
    assert IdeogramProvider.summary


# ----- connection check ----------------------------------------------------------------------
@pytest.mark.parametrize("status", [400, 422])
def test_check_connection_takes_a_validation_error_as_a_working_key(status: int) -> None:
    with respx.mock:
        route = respx.post(ENDPOINT).respond(status, json={"detail": "image_file is required"})
        assert provider().check_connection() == "Connected: Ideogram accepted the API key."
    sent = route.calls.last.request
    assert sent.headers["Api-Key"] == "k"
    # No image part, so nothing can be upscaled or billed.
    assert set(parts_of(sent)) == {"image_request"}


@pytest.mark.parametrize(
    ("status", "kind"),
    [(401, "account"), (402, "account"), (403, "account"), (404, "account"), (503, "transient")],
)
def test_check_connection_raises_what_the_user_must_fix(status: int, kind: str) -> None:
    with respx.mock:
        respx.post(ENDPOINT).respond(status, json={"detail": "no"})
        with pytest.raises(ProviderError) as caught:
            provider().check_connection()
    assert caught.value.kind == kind


def test_check_connection_tells_a_dead_host() -> None:
    with respx.mock:
        respx.post(ENDPOINT).mock(side_effect=httpx.ConnectError("no route to host"))
        with pytest.raises(ProviderError) as caught:
            provider().check_connection()
    assert caught.value.kind == ErrorKind.TRANSIENT
    assert "Could not reach Ideogram" in caught.value.message
