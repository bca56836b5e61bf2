"""`ideogram`: Ideogram's upscale, one synchronous multipart POST.

The image travels as the `image_file` part and the settings as `image_request`, a JSON
*string* part. Every image in the reply's `data` is a result (`num_images` can ask for up to
eight); an image that fails Ideogram's safety check comes back without a URL but is still
billed. The reply says nothing about cost, so it comes from the price table per image.

Ideogram also has a newer asynchronous family (`/v2/image/upscale/{model}`, polled at
`/v2/generations/{id}`); it would be its own adapter reusing `image_request_of` and
`results_of`, so this one stays the plain synchronous call.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import httpx

from jobs.providers.base import (
    ErrorKind,
    InputKind,
    InputLimits,
    JobRequest,
    JobState,
    Option,
    Outcome,
    Provider,
    ProviderError,
    ResultRef,
)

UPSCALE_PATH = "/upscale"
# Up to eight images in one open request. Generous, yet under the worker's task timeout
# (600 s), past which the task would be killed mid-call anyway.
SUBMIT_TIMEOUT = 300.0
CHECK_TIMEOUT = 30.0
# Validation failures: the key was accepted before the request body was looked at.
KEY_ACCEPTED_STATUSES = frozenset({400, 415, 422})

_ERRORS: dict[int, tuple[ErrorKind, str]] = {
    400: (ErrorKind.INPUT, "Ideogram refused the request as invalid."),
    401: (
        ErrorKind.ACCOUNT,
        "Ideogram did not accept the API key. Check the key in the provider account.",
    ),
    # Forbidden for a key Ideogram knows: API access is off or the account is restricted,
    # which the account's owner has to sort out; retrying the job would not help.
    403: (
        ErrorKind.ACCOUNT,
        "Ideogram refused access with this API key. Check that API access is enabled"
        " for the Ideogram account.",
    ),
    # The path is fixed, so a 404 means the account's base URL is wrong.
    404: (
        ErrorKind.ACCOUNT,
        "Ideogram does not know this address. Check the account's base URL.",
    ),
    413: (ErrorKind.INPUT, "The image is too large for Ideogram (it takes files up to 10 MB)."),
    422: (ErrorKind.INPUT, "Ideogram could not process this image."),
    429: (
        ErrorKind.TRANSIENT,
        "Ideogram is rate-limiting us (by default it allows 10 requests at a time per account);"
        " we will try again shortly.",
    ),
    # A gateway gave up waiting while Ideogram may still be upscaling: the same as a read
    # timeout, so the create must not be sent again blindly.
    504: (
        ErrorKind.UNKNOWN_OUTCOME,
        "Ideogram's gateway timed out while the image was being upscaled, so it may or may"
        " not have been done and billed.",
    ),
}


class IdeogramProvider(Provider):
    # Ideogram's documented default: 10 requests in flight per account.
    default_max_in_flight = 10
    slug = "ideogram"
    name = "Ideogram"
    summary = "Ideogram upscale with an optional prompt; up to 8 variations per image."
    default_base_url = "https://api.ideogram.ai"
    input_kinds = (InputKind.UPLOAD,)
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "prompt",
            "Prompt",
            "text",
            help="Optional description of the image to guide the upscale.",
        ),
        Option(
            "resemblance",
            "Resemblance",
            "int",
            default=50,
            minimum=1,
            maximum=100,
            help="How closely the result follows the source image.",
        ),
        Option(
            "detail",
            "Detail",
            "int",
            default=50,
            minimum=1,
            maximum=100,
            help="How much new detail Ideogram adds.",
        ),
        Option(
            "magic_prompt_option",
            "Magic Prompt",
            "choice",
            choices=("AUTO", "ON", "OFF"),
            help="Let Ideogram rewrite the prompt. Leave empty for Ideogram's own default.",
        ),
        Option(
            "num_images",
            "Number of images",
            "int",
            default=1,
            minimum=1,
            maximum=8,
            help="Variations to make; each one is billed.",
        ),
        Option(
            "seed",
            "Seed",
            "int",
            minimum=0,
            maximum=2147483647,
            help="Set it to repeat a result; leave empty for a random one.",
        ),
    )
    # 10 MB is the seed's figure; newer Ideogram docs mention 25 MB (unconfirmed), so the
    # lower one is kept until a real upload shows otherwise. No pixel limit is documented.
    limits = InputLimits(formats=frozenset({"JPEG", "PNG", "WEBP"}), max_bytes=10_000_000)
    # Ideogram bills a flat price per output image. Its own figure is unconfirmed; $0.06 is
    # what resellers charge [3rd], so one "credit" here is one image at $0.06.
    default_prices: ClassVar[Mapping[str, Decimal]] = {"default": Decimal(1)}
    usd_micros_per_credit = Decimal(60_000)
    credit_unit = "images"
    # Failed requests are not billed; images withheld as unsafe are [docs].
    failed_job_charge = "free"
    bills_withheld_images = True

    @classmethod
    def price_units(cls, options: Mapping[str, Any]) -> int:
        return int(options.get("num_images") or 1)

    # ----- submit --------------------------------------------------------------------
    def submit(self, request: JobRequest) -> Outcome:
        response = self.request(
            "POST",
            UPSCALE_PATH,
            creates_work=True,
            timeout=SUBMIT_TIMEOUT,
            data={"image_request": json.dumps(image_request_of(request.options))},
            files={"image_file": self.image_file(request)},
        )
        reply = self.json_of(response, self.name)
        results = results_of(reply)
        if not results:
            raise ProviderError(
                f"{self.name} answered without an upscaled image, so the job failed.",
                kind=ErrorKind.PROVIDER,
                provider_message=response.text[:300],
                status_code=response.status_code,
            )
        return Outcome(
            state=JobState.SUCCEEDED,
            results=results,
            # Billed per image returned, withheld unsafe ones included [docs].
            cost=self.estimate({**request.options, "num_images": len(results)}),
        )

    def image_file(self, request: JobRequest) -> tuple[str, bytes, str]:
        source = request.source
        if not source.data:
            raise ProviderError(f"{self.name} needs an uploaded image.", kind=ErrorKind.INPUT)
        content_type = source.content_type or "application/octet-stream"
        # A neutral name: the user's file name is no business of the provider's.
        extension = content_type.rpartition("/")[2] if content_type.startswith("image/") else "bin"
        return f"image.{extension}", source.data, content_type

    # ----- errors --------------------------------------------------------------------
    def classify_error(
        self, status: int, words: str, response: httpx.Response
    ) -> tuple[ErrorKind, str] | None:
        if status == 402:
            return ErrorKind.ACCOUNT, payment_refused_text(response)
        if status == 422 and "safety" in words.lower():
            return (
                ErrorKind.INPUT,
                "Ideogram refused this image: it failed Ideogram's safety check.",
            )
        return _ERRORS.get(status)

    # ----- connection check ----------------------------------------------------------
    def check_connection(self) -> str:
        """Send an upscale request without an image: a validation error proves the key works.

        Ideogram has no free endpoint that checks a key. It checks the Api-Key header before
        the form (a bad key answers 401 whatever the body), and a request with no image
        cannot be upscaled, so it is never billed. 402, 403 and 404 are raised as they are:
        the account cannot be used as it is set up.
        """
        try:
            self.request(
                "POST",
                UPSCALE_PATH,
                timeout=CHECK_TIMEOUT,
                files={"image_request": (None, "{}")},
            )
        except ProviderError as error:
            if error.status_code not in KEY_ACCEPTED_STATUSES:
                raise
        return f"Connected: {self.name} accepted the API key."

    def auth_headers(self) -> dict[str, str]:
        return {"Api-Key": self.api_key}


def image_request_of(options: Mapping[str, Any]) -> dict[str, Any]:
    """The options that are set, each an `image_request` field of the same name.

    Unset ones are left out, so Ideogram applies its own defaults.
    """
    names = (option.name for option in IdeogramProvider.options)
    return {name: options[name] for name in names if options.get(name) is not None}


def results_of(reply: Any) -> list[ResultRef]:
    items = reply.get("data") if isinstance(reply, Mapping) else None
    if not isinstance(items, list):
        return []
    refs = (result_ref(item) for item in items if isinstance(item, Mapping))
    return [ref for ref in refs if ref is not None]


def result_ref(item: Mapping[str, Any]) -> ResultRef | None:
    """One image; an unsafe one is kept without a URL, as a billed but withheld result."""
    width, height = parse_resolution(item.get("resolution"))
    if item.get("is_image_safe") is False:
        return ResultRef(url="", width=width, height=height, is_safe=False)
    url = item.get("url")
    if not isinstance(url, str) or not url:
        return None
    return ResultRef(url=url, width=width, height=height)


def parse_resolution(value: Any) -> tuple[int | None, int | None]:
    """Parse a resolution like "1280x800"; (None, None) for anything else."""
    width, sep, height = str(value or "").lower().partition("x")
    if sep and width.isdigit() and height.isdigit():
        return int(width), int(height)
    return None, None


def payment_refused_text(response: httpx.Response) -> str:
    """402 carries `reject_reason` (e.g. insufficient_funds) in Ideogram's words."""
    try:
        body = response.json()
    except ValueError:
        body = None
    reason = str(body.get("reject_reason") or "") if isinstance(body, Mapping) else ""
    if reason in ("", "insufficient_funds"):
        return "The Ideogram account has run out of funds. Top it up on Ideogram, then retry."
    return f"Ideogram refused to bill the account ({reason.replace('_', ' ')})."
