"""`aimlapi`: AI/ML API running ByteDance's Dreamina Creative Upscale, synchronously.

One JSON POST carries the image as a data URL and the reply carries the result (a URL or
base64) and what it cost. AI/ML API does not charge failed requests, so its error replies
are safe to retry; only a read timeout after sending leaves the outcome unknown.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

import httpx

from jobs.providers.base import (
    Cost,
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

MODEL = "bytedance/dreamina-creative-upscale"
GENERATIONS_PATH = "/v1/images/generations"
# The upscale runs while the request is open and the docs give no duration. Five minutes is
# generous yet stays under the worker's task timeout (600 s), which would otherwise kill the
# task mid-call and leave the job to the reconciler as an unknown outcome anyway.
SUBMIT_TIMEOUT = 300.0
CHECK_TIMEOUT = 30.0
# $1 buys 2,000,000 credits [docs].
CREDITS_PER_USD = Decimal(2_000_000)
# X-Client-Request-Id is echoed back only when it is 1-128 of these characters [docs].
_REQUEST_ID_JUNK = re.compile(r"[^A-Za-z0-9._:-]")

_ERRORS: dict[int, tuple[ErrorKind, str]] = {
    400: (
        ErrorKind.INPUT,
        "AI/ML API refused the request as invalid. It takes JPEG or PNG images up to 4.7 MB"
        " and 4096×4096 pixels.",
    ),
    401: (
        ErrorKind.ACCOUNT,
        "AI/ML API did not accept the API key. Check the key in the provider account.",
    ),
    403: (
        ErrorKind.ACCOUNT,
        "The AI/ML API account is out of credits. Top up the balance on AI/ML API,"
        " then retry the job.",
    ),
    # The path and model are fixed, so a 404 hits every job of the account: a wrong base URL
    # or a withdrawn model, which the account's owner has to fix.
    404: (
        ErrorKind.ACCOUNT,
        "AI/ML API does not know this address or model. Check the account's base URL;"
        " the upscale model may have been withdrawn.",
    ),
    429: (ErrorKind.TRANSIENT, "AI/ML API is rate-limiting us; we will try again shortly."),
    504: (
        ErrorKind.TRANSIENT,
        "AI/ML API took too long to upscale the image and gave up (it does not charge for"
        " that). We will try again shortly.",
    ),
}


class AimlapiProvider(Provider):
    # "Failed requests are not charged" (AI/ML API docs): a create that errored can be re-sent.
    failed_creates_are_free = True
    failed_job_charge = "free"
    slug = "aimlapi"
    name = "AI/ML API"
    summary = "ByteDance Dreamina Creative Upscale to 2K or 4K, with adjustable generated detail."
    default_base_url = "https://api.aimlapi.com"
    input_kinds = (InputKind.UPLOAD,)
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "resolution",
            "Resolution",
            "choice",
            default="2k",
            choices=("2k", "4k"),
            help="Target output size: 2K for standard upscaling, 4K for ultra-high definition.",
        ),
        Option(
            "scale",
            "Creative detail",
            "int",
            default=50,
            minimum=0,
            maximum=100,
            help="0 stays closest to the source; 100 generates the most new detail.",
        ),
        Option(
            "response_format",
            "Result delivery",
            "choice",
            default="url",
            choices=("url", "b64_json"),
            help="url: a link we download at once; b64_json: the image inside the reply.",
        ),
    )
    # The data URL is a third larger than the file; the 4.7 MB limit is on the file.
    limits = InputLimits(
        formats=frozenset({"JPEG", "PNG"}),
        max_bytes=4_700_000,
        max_width=4096,
        max_height=4096,
    )
    # ASSUMPTION: AI/ML API publishes no price per resolution for this model. The only figure
    # is its documented example reply (120,000 credits = $0.06), used for both rows here until
    # the team edits the table with what their invoices show.
    default_prices: ClassVar[Mapping[str, Decimal]] = {
        "2k": Decimal(120_000),
        "4k": Decimal(120_000),
    }
    usd_micros_per_credit = Decimal(1_000_000) / CREDITS_PER_USD

    @classmethod
    def price_key(cls, options: Mapping[str, Any]) -> str:
        return str(options.get("resolution") or "2k")

    # ----- submit --------------------------------------------------------------------
    def submit(self, request: JobRequest) -> Outcome:
        response = self.request(
            "POST",
            GENERATIONS_PATH,
            creates_work=True,
            timeout=SUBMIT_TIMEOUT,
            json=self.payload(request),
            headers=tracing_headers(request.job_id),
        )
        reply = self.json_of(response, self.name)
        body = reply if isinstance(reply, dict) else {}
        results = results_of(body)
        cost = self.reported_cost(body, response.headers)
        if not results:
            return self.without_image(response, body, cost)
        return Outcome(
            state=JobState.SUCCEEDED,
            # Names the charge on AI/ML API's side: what support asks for in a dispute.
            provider_job_id=response.headers.get("x-inference-id", ""),
            results=results,
            cost=cost or self.estimate(request.options),
        )

    def payload(self, request: JobRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": MODEL, "image_url": self.data_url(request)}
        for option in self.options:
            value = request.options.get(option.name)
            if value is not None:
                body[option.name] = value
        return body

    def data_url(self, request: JobRequest) -> str:
        source = request.source
        if not source.data:
            raise ProviderError(f"{self.name} needs an uploaded image.", kind=ErrorKind.INPUT)
        mime = source.content_type or sniff_mime(source.data)
        return f"data:{mime};base64,{base64.b64encode(source.data).decode('ascii')}"

    def without_image(
        self, response: httpx.Response, body: dict[str, Any], cost: Cost | None
    ) -> Outcome:
        """A 2xx reply with nothing to download."""
        status = body_status(body)
        if status is not None and status >= 400:
            # An error wrapped in a success status: it gets the same policy as the real one.
            raise self.error_from_response(response, status=status)
        error = ProviderError(
            f"{self.name} answered without an upscaled image, so the job failed.",
            kind=ErrorKind.PROVIDER,
            provider_message=response.text[:300],
            status_code=response.status_code,
        )
        # A failed outcome, not an exception, so that a cost the reply reports is recorded.
        return Outcome(state=JobState.FAILED, error=error, cost=cost)

    # ----- cost ----------------------------------------------------------------------
    def reported_cost(self, body: dict[str, Any], headers: httpx.Headers) -> Cost | None:
        """The cost from `meta.usage`, else from the x-aimlapi-* headers; None if neither."""
        usage = mapping(mapping(body.get("meta")).get("usage"))
        credits, usd = number(usage.get("credits_used")), number(usage.get("usd_spent"))
        if credits is None and usd is None:
            credits = number(headers.get("x-aimlapi-credits-used"))
            usd = number(headers.get("x-aimlapi-usd-spent"))
        if usd is not None:
            micros = int((usd * 1_000_000).to_integral_value())
            credits = credits if credits is not None else usd * CREDITS_PER_USD
            return Cost(credits=credits, usd_micros=micros, source="reported")
        if credits is not None:
            return self.cost_of_credits(credits)
        return None

    # ----- errors --------------------------------------------------------------------
    def classify_error(
        self, status: int, words: str, response: httpx.Response
    ) -> tuple[ErrorKind, str] | None:
        return _ERRORS.get(status)

    def provider_message(self, response: httpx.Response) -> str:
        """Their message plus the request id their support asks for."""
        message = super().provider_message(response)
        try:
            request_id = mapping(response.json()).get("requestId")
        except ValueError:
            request_id = None
        return f"{message} (request id {request_id})" if request_id else message

    # ----- connection check ----------------------------------------------------------
    def check_connection(self) -> str:
        """Send a request without an image: 400 proves the key works, and nothing is charged.

        AI/ML API has no free endpoint that checks a key. Its gateway checks the key before
        the body (a bad key answers 401 whatever the body), and a request that fails
        validation never reaches the model, so it costs nothing. A 403 (out of credits) and
        a 404 (wrong base URL) are raised as they are: the account cannot be used as set up.
        """
        try:
            self.request("POST", GENERATIONS_PATH, timeout=CHECK_TIMEOUT, json={"model": MODEL})
        except ProviderError as error:
            if error.status_code != 400:
                raise
        return f"Connected: {self.name} accepted the API key."


def tracing_headers(job_id: str) -> dict[str, str]:
    """Our job id as X-Client-Request-Id, so a job can be found in AI/ML API's logs."""
    request_id = _REQUEST_ID_JUNK.sub("", job_id)[:128]
    return {"X-Client-Request-Id": request_id} if request_id else {}


def results_of(body: dict[str, Any]) -> list[ResultRef]:
    items = body.get("data")
    if not isinstance(items, list):
        return []
    refs = (result_ref(mapping(item)) for item in items)
    return [ref for ref in refs if ref is not None]


def result_ref(item: Mapping[str, Any]) -> ResultRef | None:
    """Bytes in hand win over a URL that has to be downloaded before it expires."""
    encoded = item.get("b64_json")
    if isinstance(encoded, str) and encoded:
        data = decode_base64(encoded)
        if data:
            return ResultRef(data=data)
    url = item.get("url")
    if isinstance(url, str) and url:
        return ResultRef(url=url)
    return None


def decode_base64(text: str) -> bytes | None:
    """Plain base64, or a data URL wrapping it; None when it is not base64 at all."""
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def body_status(body: dict[str, Any]) -> int | None:
    """`statusCode` of an error body: a string in the docs, a number in the wild."""
    value = body.get("statusCode")
    if isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def mapping(value: Any) -> Mapping[str, Any]:
    """The value if it is a JSON object; `{}` for null or anything else (nullable fields)."""
    return value if isinstance(value, Mapping) else {}


def number(value: Any) -> Decimal | None:
    """A non-negative finite amount from JSON or a header; None when absent or garbage."""
    if value is None or isinstance(value, bool):
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and amount >= 0 else None


def sniff_mime(data: bytes) -> str:
    """The image type from magic bytes, for the data URL when the caller gave none."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return "application/octet-stream"
