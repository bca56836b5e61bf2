"""`useapi`: Dreamina's upscaler through useapi.net, asynchronous, on Dreamina jobs only.

useapi.net drives a Dreamina account on the user's behalf. Its upscale takes no image: the
input is a *completed* Dreamina image-generation job of the same useapi.net account
(`jobid`) and which of its up to four images to use (`imageIndex`). A create answers with
a new job id at once; the job is then polled until it completes or fails.

Job ids look like `j0302…-u12345-US:someone@example.com:dreamina`: they carry `:` and `@`,
so they are always percent-encoded as one path segment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import quote

import httpx

from jobs.providers.base import (
    Cost,
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

CREATE_PATH = "/v1/dreamina/images/upscale"
GENERATE_PATH = "/v1/dreamina/images"
JOB_PATH = "/v1/dreamina/images/{jobid}"
# [3rd] Not in useapi.net's Dreamina docs; taken from a third-party client of the API.
CANCEL_PATH = "/v1/dreamina/scheduler/{jobid}"
# A job id of the documented shape that no account can own: used to test the key.
PROBE_JOBID = "j0000000000000000000i-u0-US:connection-check@example.invalid:dreamina"

# Unknown statuses (useapi adds some per API) stay RUNNING: the job is not over until it says so.
STATES = {
    "created": JobState.RUNNING,
    "started": JobState.RUNNING,
    "completed": JobState.SUCCEEDED,
    "failed": JobState.FAILED,
    "moderated": JobState.FAILED,
    "cancelled": JobState.FAILED,
    "canceled": JobState.FAILED,
}


def job_path(template: str, jobid: str) -> str:
    """Put a job id into a path as one segment: `:`, `@`, `/` and spaces are encoded."""
    return template.format(jobid=quote(jobid, safe=""))


class UseapiProvider(Provider):
    slug = "useapi"
    name = "useapi.net (Dreamina)"
    is_async = True
    default_base_url = "https://api.useapi.net"
    input_kinds = (InputKind.REFERENCE,)
    summary = (
        "Dreamina upscale to 2K, 4K or 8K via useapi.net. Takes the job id of a completed "
        "Dreamina image job of your useapi.net account, not an upload."
    )
    reference_fields: ClassVar[tuple[Option, ...]] = (
        Option(
            "jobid",
            "Dreamina job id",
            "text",
            required=True,
            maximum=300,
            help="The jobid of a completed image-generation job (POST /v1/dreamina/images).",
        ),
        Option(
            "imageIndex",
            "Image index",
            "int",
            default=0,
            minimum=0,
            maximum=3,
            help="Which of the job's up to four images to upscale (0–3).",
        ),
    )
    options: ClassVar[tuple[Option, ...]] = (
        Option(
            "upscaleResolution",
            "Resolution",
            "choice",
            default="4k",
            choices=("2k", "4k", "8k"),
            help="Target resolution.",
        ),
        Option(
            "originalImageStrength",
            "Original image strength",
            "float",
            default=0.65,
            minimum=0,
            maximum=1,
            help="How much of the original image to preserve (0–1).",
        ),
        Option(
            "detailStrength",
            "Detail strength",
            "float",
            default=0.5,
            minimum=0,
            maximum=1,
            help="Detail enhancement level (0–1).",
        ),
        Option(
            "maxJobs",
            "Max concurrent jobs",
            "int",
            minimum=1,
            maximum=50,
            help="Optional: override useapi.net's max concurrent jobs for this request (1–50).",
        ),
    )
    # Dreamina's credit price per resolution is not published, and useapi.net bills by
    # subscription: rows start at 0 for the team to edit. The create reply's forecastCost
    # (in Dreamina credits) is preferred whenever it is sent.
    default_prices: ClassVar[Mapping[str, Decimal]] = {
        "2k": Decimal(0),
        "4k": Decimal(0),
        "8k": Decimal(0),
    }
    # What one Dreamina credit costs in dollars is unknown (it depends on the Dreamina
    # plan behind the useapi.net account), so reported credits carry no dollar amount.
    usd_micros_per_credit = Decimal(0)
    credit_unit = "Dreamina credits"
    # ASSUMPTION: no refund rule is documented; forecastCost is charged at start, so a
    # failed job is counted as charged and listed as an anomaly for someone to check.
    failed_job_charge = "kept"
    # The provider's own example polls every 10 s; upscales usually take under a minute.
    poll_interval = 5.0
    deadline_seconds = 30 * 60

    @classmethod
    def price_key(cls, options: Mapping[str, Any]) -> str:
        return str(options.get("upscaleResolution") or "4k")

    @classmethod
    def clean_reference(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        cleaned = super().clean_reference(raw)
        # A text field of only spaces cleans to "": still no job id.
        if not cleaned["jobid"]:
            raise OptionError("jobid", "is required.")
        return cleaned

    # ----- the calls the engine makes ------------------------------------------------
    def submit(self, request: JobRequest) -> Outcome:
        body = self.create_body(request)
        response = self.request("POST", CREATE_PATH, json=body, creates_work=True)
        job = created_job(response, self.name)
        return self.outcome(job)

    def create_body(self, request: JobRequest) -> dict[str, Any]:
        """The documented create body; optional fields only when they have a value."""
        if request.source.kind != InputKind.REFERENCE:
            raise ProviderError(
                f"{self.name} can only upscale a Dreamina job of your useapi.net account: "
                "give its job id instead of an image.",
                kind=ErrorKind.INPUT,
            )
        try:
            reference = self.clean_reference(request.source.reference)
            options = self.clean_options(request.options)
        except OptionError as exc:
            raise ProviderError(f"{self.name}: {exc}", kind=ErrorKind.INPUT) from exc
        body = {**reference, **{k: v for k, v in options.items() if v is not None}}
        if request.webhook_url:
            body["replyUrl"] = request.webhook_url
        body["replyRef"] = request.job_id
        return body

    def poll(self, provider_job_id: str) -> Outcome:
        response = self.request("GET", job_path(JOB_PATH, provider_job_id))
        return self.outcome(json_object(response, self.name, ErrorKind.TRANSIENT))

    def cancel(self, provider_job_id: str) -> bool:
        """Remove the job from useapi.net's scheduler; False when it is not there any more."""
        try:
            self.request("DELETE", job_path(CANCEL_PATH, provider_job_id))
        except ProviderError as error:
            if error.status_code == 404:
                return False
            raise
        return True

    def check_connection(self) -> str:
        # useapi.net has no documented "who am I" call for Dreamina. Reading a job that
        # cannot exist is free and authenticated: 404 means the token was accepted, while
        # 401/402/596 name the account problem and a dead host raises TRANSIENT.
        try:
            self.request("GET", job_path(JOB_PATH, PROBE_JOBID))
        except ProviderError as error:
            if error.status_code != 404:
                raise
        return f"{self.name} accepted the API token."

    def generate_source(self, prompt: str) -> dict[str, Any]:
        """Start a (paid) Dreamina image generation and return its reference for an upscale.

        The job completes like any other: poll its `jobid` until SUCCEEDED, then submit
        an upscale with the returned reference.
        """
        if not prompt.strip():
            raise ProviderError("A prompt is required to generate an image.", kind=ErrorKind.INPUT)
        response = self.request(
            "POST", GENERATE_PATH, json={"prompt": prompt.strip()}, creates_work=True
        )
        job = created_job(response, self.name)
        return {"jobid": job["jobid"], "imageIndex": 0}

    # ----- replies ---------------------------------------------------------------------
    def outcome(self, job: Mapping[str, Any]) -> Outcome:
        """Read a job record (a create or poll reply; webhooks carry the same) into an Outcome."""
        jobid = str(job.get("jobid") or "")
        status = str(job.get("status") or "").lower()
        state = STATES.get(status, JobState.RUNNING)
        cost = self.reported_cost(job)
        if state == JobState.RUNNING:
            return Outcome(state=state, provider_job_id=jobid, cost=cost, progress=status)
        if state == JobState.FAILED:
            return Outcome(state=state, provider_job_id=jobid, error=self.job_error(status, job))
        results = result_refs(job)
        if not results:
            error = ProviderError(
                f"{self.name} reported the upscale as completed but sent no image.",
                kind=ErrorKind.PROVIDER,
                provider_message=json.dumps(job.get("response"))[:500],
            )
            return Outcome(state=JobState.FAILED, provider_job_id=jobid, error=error)
        return Outcome(state=state, provider_job_id=jobid, results=results, cost=cost)

    def reported_cost(self, job: Mapping[str, Any]) -> Cost | None:
        response = job.get("response")
        forecast = response.get("forecastCost") if isinstance(response, Mapping) else None
        if isinstance(forecast, bool) or not isinstance(forecast, int | float):
            return None
        credits = Decimal(str(forecast))
        return self.cost_of_credits(credits) if credits.is_finite() and credits >= 0 else None

    def job_error(self, status: str, job: Mapping[str, Any]) -> ProviderError:
        words = failure_words(job)
        if status == "moderated":
            # Dreamina's content filter refused the image: the same input fails again.
            return ProviderError(
                f"Dreamina's content moderation at {self.name} refused this image.",
                kind=ErrorKind.INPUT,
                provider_message=words,
            )
        reason = f": {words}" if words else ""
        if status in ("cancelled", "canceled"):
            message = f"The job was cancelled at {self.name}{reason}."
        else:
            message = f"{self.name} reported the upscale as failed{reason}."
        return ProviderError(message, kind=ErrorKind.PROVIDER, provider_message=words)

    # ----- errors ----------------------------------------------------------------------
    def classify_error(
        self, status: int, words: str, response: httpx.Response
    ) -> tuple[ErrorKind, str] | None:
        """useapi.net's documented error statuses, in words a user can act on."""
        if status == 400 and "must be completed" in words.lower():
            return ErrorKind.INPUT, (
                "The source Dreamina job has not finished yet. Wait until it is completed at "
                f"{self.name}, then submit the upscale again."
            )
        if status == 400:
            return ErrorKind.INPUT, f"{self.name} refused the request: {words or 'invalid'}."
        if status == 401:
            return ErrorKind.ACCOUNT, (
                f"{self.name} did not accept the API token. Check it under Providers."
            )
        if status == 402:
            return ErrorKind.ACCOUNT, (
                f"The {self.name} subscription has expired or has no credits left. "
                "Renew it at useapi.net, then retry."
            )
        if status == 404:
            return ErrorKind.INPUT, (
                f"{self.name} does not know this Dreamina job. Check the job id: it must be a "
                "job of this useapi.net account (jobs are kept 30 days)."
            )
        if status == 429:
            return ErrorKind.TRANSIENT, (
                f"All Dreamina accounts at {self.name} are busy; we will try again shortly."
            )
        if status == 596:
            # Permanent until a human acts, though it is a 5xx: retrying repeats the failure.
            return ErrorKind.ACCOUNT, (
                f"The Dreamina account session at {self.name} is broken. Re-add the Dreamina "
                "account in the useapi.net dashboard, then retry."
            )
        return None


def created_job(response: httpx.Response, name: str) -> dict[str, Any]:
    """The create reply, which must name the new job.

    The create was accepted (2xx), so a paid job probably exists: a reply we cannot read
    is an unknown outcome, never something to send again.
    """
    job = json_object(response, name, ErrorKind.UNKNOWN_OUTCOME)
    if not job.get("jobid"):
        raise ProviderError(
            f"{name} accepted the job but its reply names no job id, so it cannot be followed.",
            kind=ErrorKind.UNKNOWN_OUTCOME,
            provider_message=response.text[:300],
            status_code=response.status_code,
        )
    return job


def result_refs(job: Mapping[str, Any]) -> list[ResultRef]:
    """`response.images[]`: the download link is `imageUrl` (not `url`), with its size."""
    response = job.get("response")
    images = response.get("images") if isinstance(response, Mapping) else None
    refs = []
    for image in images if isinstance(images, list) else []:
        if isinstance(image, Mapping) and image.get("imageUrl"):
            refs.append(
                ResultRef(
                    url=str(image["imageUrl"]),
                    width=positive_int(image.get("width")),
                    height=positive_int(image.get("height")),
                )
            )
    return refs


def failure_words(job: Mapping[str, Any]) -> str:
    """useapi's own reason: top-level `error` plus `errorDetails` (a string or an object)."""
    parts = []
    for key in ("error", "errorDetails"):
        value = job.get(key)
        if value:
            parts.append(value if isinstance(value, str) else json.dumps(value))
    return " — ".join(parts)[:1000]


def positive_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None
