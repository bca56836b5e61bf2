"""`imagineapi`: ImagineAPI's Enhance upscaler (2x to 12x), asynchronous, on its own images.

ImagineAPI only upscales images it generated: the input is the id (a UUID) of one of its
image objects and the index of the picture inside it. A create answers with a *new* image
object whose id is then polled. ImagineAPI runs on Directus, so errors come as
`{"errors": [{"message": …, "extensions": {"code": …}}]}`, and an id the key cannot see
answers 403, not 404.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from jobs.providers.base import (
    ErrorKind,
    InputKind,
    JobRequest,
    JobState,
    Option,
    OptionError,
    Outcome,
    Provider,
    ProviderError,
    ResultRef,
    json_object,
)

CREATE_PATH = "/items/images/{image_id}/{index}/upscale/{scale}"
GENERATE_PATH = "/items/images"
IMAGE_PATH = "/items/images/{image_id}"
# The nil UUID is well formed but never an image: reading it tests the key for free.
PROBE_ID = "00000000-0000-0000-0000-000000000000"
SCALES = ("2x", "4x", "6x", "8x", "10x", "12x")

# Unknown statuses stay RUNNING: the job is not over until ImagineAPI says so.
STATES = {
    "pending": JobState.RUNNING,
    "in-progress": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
}


def image_path(image_id: str) -> str:
    return IMAGE_PATH.format(image_id=quote(image_id, safe=""))


class ImagineapiProvider(Provider):
    slug = "imagineapi"
    name = "ImagineAPI"
    is_async = True
    default_base_url = "https://cl.imagineapi.dev"
    input_kinds = (InputKind.REFERENCE,)
    summary = (
        "ImagineAPI Enhance, 2x to 12x, WebP output. Takes the id of an image generated on "
        "your ImagineAPI account (and which of its pictures), not an upload."
    )
    reference_fields: ClassVar[tuple[Option, ...]] = (
        Option(
            "image_id",
            "ImagineAPI image id",
            "text",
            required=True,
            maximum=36,
            help="The UUID of an image object generated on ImagineAPI.",
        ),
        # The seed shows a grid of four pictures per image object: indexes 0 to 3.
        Option(
            "index",
            "Picture index",
            "int",
            default=0,
            minimum=0,
            maximum=3,
            help="Which picture of the image object to upscale (0–3).",
        ),
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "scale",
            "Scale",
            "choice",
            default="2x",
            choices=SCALES,
            help="Output size ×. Credits: 2x=3, 4x=10, 6x=35, 8x=45, 10x=80, 12x=100.",
        ),
    )
    # The result is WebP, whose format caps each side at 16383 px; 12x outgrows the default.
    max_result_pixels = 16383 * 16383
    # Seed price list, in credits by scale; no reply reports a cost.
    default_prices: ClassVar[Mapping[str, Decimal]] = {
        "2x": Decimal(3),
        "4x": Decimal(10),
        "6x": Decimal(35),
        "8x": Decimal(45),
        "10x": Decimal(80),
        "12x": Decimal(100),
    }
    usd_micros_per_credit = Decimal(10000)  # 1 credit = $0.01 (seed)
    # Credits are taken when a job starts and given back when it fails [docs].
    failed_job_charge = "refunded"
    poll_interval = 3.0
    # Jobs are reported stuck in `pending` for hours: give up after 20 minutes.
    deadline_seconds = 20 * 60

    @classmethod
    def price_key(cls, options: Mapping[str, Any]) -> str:
        return str(options.get("scale") or "2x")

    @classmethod
    def clean_reference(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().clean_reference(raw)
        try:
            uuid.UUID(cleaned["image_id"])
        except ValueError:
            raise OptionError(
                "image_id", f"must be an ImagineAPI image id, a UUID (got {raw['image_id']!r})."
            ) from None
        return cleaned

    # ----- the calls the engine makes ------------------------------------------------
    def submit(self, request: JobRequest) -> Outcome:
        response = self.request("POST", self.create_path(request), creates_work=True)
        return self.outcome(created_image(response, self.name))

    def create_path(self, request: JobRequest) -> str:
        """Everything travels in the path; the create has no body."""
        if request.source.kind != InputKind.REFERENCE:
            raise ProviderError(
                f"{self.name} can only upscale images it generated: give the image id "
                "instead of an image.",
                kind=ErrorKind.INPUT,
            )
        try:
            reference = self.clean_reference(request.source.reference)
            options = self.clean_options(request.options)
        except OptionError as exc:
            raise ProviderError(f"{self.name}: {exc}", kind=ErrorKind.INPUT) from exc
        return CREATE_PATH.format(
            image_id=quote(reference["image_id"], safe=""),
            index=reference["index"],
            scale=options["scale"],
        )

    def poll(self, provider_job_id: str) -> Outcome:
        response = self.request("GET", image_path(provider_job_id))
        return self.outcome(json_data(response, self.name, ErrorKind.TRANSIENT))

    def check_connection(self) -> str:
        # ImagineAPI documents no account call. Reading an image that cannot exist is free:
        # Directus answers FORBIDDEN (403) for an unknown id once the key is accepted, and
        # 401 (or 403 INVALID_TOKEN) for a bad key; a dead host raises TRANSIENT.
        try:
            self.request("GET", image_path(PROBE_ID))
        except ProviderError as error:
            if error.status_code != 403 or error.kind != ErrorKind.INPUT:
                raise
        return f"{self.name} accepted the API key."

    def generate_source(self, prompt: str) -> dict[str, Any]:
        """Start a (paid) ImagineAPI generation and return its reference for an upscale.

        The new image object completes like an upscale does: poll its `image_id` until
        SUCCEEDED, then submit an upscale with the returned reference.
        """
        if not prompt.strip():
            raise ProviderError("A prompt is required to generate an image.", kind=ErrorKind.INPUT)
        response = self.request(
            "POST", GENERATE_PATH, json={"prompt": prompt.strip()}, creates_work=True
        )
        return {"image_id": created_image(response, self.name)["id"], "index": 0}

    # ----- replies ---------------------------------------------------------------------
    def outcome(self, image: Mapping[str, Any]) -> Outcome:
        """Read an image object (`data` of a create or poll reply) into an Outcome."""
        image_id = str(image.get("id") or "")
        status = str(image.get("status") or "").lower()
        state = STATES.get(status, JobState.RUNNING)
        if state == JobState.RUNNING:
            return Outcome(state=state, provider_job_id=image_id, progress=progress_of(image))
        if state == JobState.SUCCEEDED and image.get("url"):
            return Outcome(
                state=state, provider_job_id=image_id, results=[ResultRef(url=str(image["url"]))]
            )
        error = self.failure(state, str(image.get("error") or ""))
        return Outcome(state=JobState.FAILED, provider_job_id=image_id, error=error)

    def failure(self, state: JobState, words: str) -> ProviderError:
        """A failed job (ImagineAPI refunds its credits), or a completed one without a URL."""
        if state == JobState.SUCCEEDED:
            message = f"{self.name} reported the upscale as completed but sent no image."
        elif words:
            message = f"{self.name} could not upscale this image: {words}."
        else:
            message = f"{self.name} reported the upscale as failed."
        return ProviderError(message, kind=ErrorKind.PROVIDER, provider_message=words)

    # ----- errors ----------------------------------------------------------------------
    def provider_message(self, response: httpx.Response) -> str:
        """The Directus error code in front of its message, e.g. "FORBIDDEN: ..."."""
        code, words = directus_code(response), super().provider_message(response)
        return f"{code}: {words}" if code else words

    def classify_error(
        self, status: int, words: str, response: httpx.Response
    ) -> tuple[ErrorKind, str] | None:
        raw = super().provider_message(response)
        return self.classify(directus_code(response), status, raw)

    def classify(self, code: str, status: int, words: str) -> tuple[ErrorKind, str]:
        """Directus error codes first; the HTTP status when the body names none."""
        if code in ("FAILED_VALIDATION", "INVALID_PAYLOAD") or status == 400:
            return ErrorKind.INPUT, f"{self.name} refused the request: {words or 'invalid'}."
        if code in ("INVALID_CREDENTIALS", "TOKEN_EXPIRED", "INVALID_TOKEN") or status == 401:
            # INVALID_TOKEN (403) is about the key itself, never about an image.
            return ErrorKind.ACCOUNT, (
                f"{self.name} did not accept the API key. Check it under Providers."
            )
        if status == 403:
            # Directus hides unknown items behind FORBIDDEN: both readings are possible.
            return ErrorKind.INPUT, (
                f"{self.name} does not know this image, or the key may not use it. Check the "
                "image id and that it was generated with this account."
            )
        if code == "ROUTE_NOT_FOUND" or status == 404:
            # Every route we call is documented, so this points at a wrong base URL.
            return ErrorKind.ACCOUNT, (
                f"{self.name} has no such endpoint. Check the account's base URL."
            )
        if code == "REQUESTS_EXCEEDED" or status == 429:
            return ErrorKind.TRANSIENT, (
                f"{self.name} is rate-limiting us; we will try again shortly."
            )
        if code == "SERVICE_UNAVAILABLE" or status >= 500:
            return ErrorKind.TRANSIENT, (
                f"{self.name} is unavailable ({status}); we will try again shortly."
            )
        if status == 402:
            return ErrorKind.ACCOUNT, (
                f"The {self.name} account has run out of credits or its subscription has ended."
            )
        return ErrorKind.INPUT, f"{self.name} refused the request ({status}): {words}."


def directus_code(response: httpx.Response) -> str:
    """`errors[0].extensions.code`, or "" when the body has another shape."""
    try:
        errors = response.json().get("errors")
        return str(errors[0]["extensions"]["code"]).upper()
    except (ValueError, AttributeError, LookupError, TypeError):
        return ""


def created_image(response: httpx.Response, name: str) -> dict[str, Any]:
    """The create reply's new image object, which must carry its id.

    The create was accepted (2xx), so credits were probably taken: a reply we cannot read
    is an unknown outcome, never something to send again.
    """
    image = json_data(response, name, ErrorKind.UNKNOWN_OUTCOME)
    if not image.get("id"):
        raise ProviderError(
            f"{name} accepted the job but its reply names no image id, so it cannot be followed.",
            kind=ErrorKind.UNKNOWN_OUTCOME,
            provider_message=response.text[:300],
            status_code=response.status_code,
        )
    return image


def json_data(response: httpx.Response, name: str, kind: ErrorKind) -> dict[str, Any]:
    """The `data` object of a success body; `kind` says what garbage means here."""
    data = json_object(response, name, kind).get("data")
    if not isinstance(data, dict):
        raise ProviderError(
            f"{name} sent a reply without the expected image object.",
            kind=kind,
            provider_message=response.text[:300],
            status_code=response.status_code,
        )
    return data


def progress_of(image: Mapping[str, Any]) -> str:
    status = str(image.get("status") or "")
    progress = image.get("progress")
    return f"{status} {progress}%" if progress not in (None, "") else status
