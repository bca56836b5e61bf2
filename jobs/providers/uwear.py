"""`uwear`: uwear.ai's upscaler (recraft or topaz), asynchronous.

uwear fetches the source itself: either a public URL of the upload (`image_url`, a signed
expiring link the engine hands out) or one of its own recent results
(`generation_result_id`, usable for 4 hours). The create answers with a `generation_id`
that is then polled; result images live 4 hours, which the engine's immediate download
covers.

uwear calls its `/api/v1` prefix legacy and is moving routes to the bare path, so the
prefix lives in the base URL (editable per account) and the paths here are relative to it.
"""

from __future__ import annotations

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
    first_message,
    json_object,
)

CREATE_PATH = "/generation-upscale"
# [3rd] The poll route comes from a third-party client; the seed documents only the create.
GENERATION_PATH = "/generation/{generation_id}"
# A generation id no account owns: reading it tests the key without starting any work.
PROBE_ID = "0"

# Statuses are capitalised in uwear's docs; compared case-insensitively all the same.
# Unknown statuses stay RUNNING: the job is not over until uwear says so.
STATES = {
    "created": JobState.RUNNING,
    "ongoing": JobState.RUNNING,
    "done": JobState.SUCCEEDED,
    "error": JobState.FAILED,
}

TOPAZ_OPTIONS: tuple[Option, ...] = (
    Option(
        "enhance_model",
        "Enhance model (topaz)",
        "choice",
        default="High Fidelity V2",
        choices=("Standard V2", "Low Resolution V2", "High Fidelity V2"),
        help="Standard V2: general purpose; Low Resolution V2: for low-res images; "
        "High Fidelity V2: preserves details.",
    ),
    Option(
        "upscale_factor",
        "Upscale factor (topaz)",
        "choice",
        default="4x",
        choices=("2x", "4x", "6x"),
        help="How much to upscale the image.",
    ),
    Option(
        "face_enhancement",
        "Face enhancement (topaz)",
        "bool",
        default=False,
        help="Enable specialised facial feature enhancement.",
    ),
    Option(
        "subject_detection",
        "Subject detection (topaz)",
        "choice",
        default="Foreground",
        choices=("Foreground", "Background", "Auto"),
        help="Which part of the image receives primary focus.",
    ),
    Option(
        "face_enhancement_creativity",
        "Face enhancement creativity (topaz)",
        "float",
        default=0.5,
        minimum=0.0,
        maximum=1.0,
        help="Creativity of face enhancement, 0.0–1.0 (ignored without face enhancement).",
    ),
)


class UwearProvider(Provider):
    slug = "uwear"
    name = "uwear.ai"
    is_async = True
    default_base_url = "https://api.uwear.ai/api/v1"
    input_kinds = (InputKind.PUBLIC_URL, InputKind.REFERENCE)
    summary = (
        "uwear.ai upscale with recraft (faithful, 1 credit) or topaz (enhanced, 3 credits). "
        "Takes an upload, fetched by uwear through a public link, or one of its own results."
    )
    reference_fields: ClassVar[tuple[Option, ...]] = (
        Option(
            "generation_result_id",
            "Generation result id",
            "int",
            required=True,
            help="The id of a uwear.ai result; usable for 4 hours after it was generated.",
        ),
    )
    options: ClassVar[tuple[Option, ...]] = (
        # No default is documented. recraft is the default here because it is the one the
        # docs call the standard model, it costs a third of topaz, and it keeps the image
        # as it is, where topaz may refine details such as clothing.
        Option(
            "model_name",
            "Model",
            "choice",
            default="recraft",
            choices=("recraft", "topaz"),
            help="recraft: standard, faithful, 1 credit. topaz: premium enhancement "
            "(skin texture), may refine clothing details, 3 credits.",
        ),
        *TOPAZ_OPTIONS,
    )
    # topaz at 6x turns a 2K source into a 12K image: above the default pixel cap.
    max_result_pixels = 16384 * 16384
    # Seed prices in uwear credits; a credit's dollar price is not published (set it later).
    default_prices: ClassVar[Mapping[str, Decimal]] = {
        "recraft": Decimal(1),
        "topaz": Decimal(3),
    }
    usd_micros_per_credit = Decimal(0)
    credit_unit = "uwear credits"
    # ASSUMPTION: no refund rule is documented, so an accepted job that fails is counted as
    # charged and listed as an anomaly for someone to check.
    failed_job_charge = "kept"
    poll_interval = 3.0

    @classmethod
    def price_key(cls, options: Mapping[str, Any]) -> str:
        return str(options.get("model_name") or "recraft")

    @classmethod
    def check_option_combination(cls, cleaned: dict[str, Any]) -> None:
        """recraft accepts no generation_settings: refuse topaz settings moved off default."""
        if cleaned.get("model_name") != "recraft":
            return
        for option in TOPAZ_OPTIONS:
            if cleaned.get(option.name, option.default) != option.default:
                raise OptionError(
                    option.name,
                    "only applies to the topaz model; recraft uses fixed settings and "
                    f"accepts none (leave it at {option.default}).",
                )

    # ----- the calls the engine makes ------------------------------------------------
    def submit(self, request: JobRequest) -> Outcome:
        body = self.create_body(request)
        response = self.request("POST", CREATE_PATH, json=body, creates_work=True)
        return Outcome(state=JobState.RUNNING, provider_job_id=created_id(response, self.name))

    def create_body(self, request: JobRequest) -> dict[str, Any]:
        """Exactly one of image_url / generation_result_id, the model, and topaz settings."""
        try:
            options = self.clean_options(request.options)
            body = self.source_field(request)
        except OptionError as exc:
            raise ProviderError(f"{self.name}: {exc}", kind=ErrorKind.INPUT) from exc
        body["model_name"] = options["model_name"]
        if options["model_name"] == "topaz":
            body["generation_settings"] = {
                option.name: setting_text(options[option.name]) for option in TOPAZ_OPTIONS
            }
        return body

    def source_field(self, request: JobRequest) -> dict[str, Any]:
        source = request.source
        if source.kind == InputKind.REFERENCE:
            return self.clean_reference(source.reference)
        if source.kind == InputKind.PUBLIC_URL and source.public_url:
            return {"image_url": source.public_url}
        raise ProviderError(
            f"{self.name} fetches the image itself and needs a public link to it, or the id "
            "of one of its own results.",
            kind=ErrorKind.INPUT,
        )

    def poll(self, provider_job_id: str) -> Outcome:
        response = self.request("GET", generation_path(provider_job_id))
        return self.outcome(provider_job_id, json_object(response, self.name, ErrorKind.TRANSIENT))

    def check_connection(self) -> str:
        # uwear documents no account call. Reading a generation that cannot exist is free:
        # 404 means the key was accepted, 401/403 name a key problem, and a dead host
        # raises TRANSIENT.
        try:
            self.request("GET", generation_path(PROBE_ID))
        except ProviderError as error:
            if error.status_code != 404:
                raise
        return f"{self.name} accepted the API key."

    # ----- replies ---------------------------------------------------------------------
    def outcome(self, generation_id: str, generation: Mapping[str, Any]) -> Outcome:
        status = str(generation.get("status") or "").lower()
        state = STATES.get(status, JobState.RUNNING)
        if state == JobState.RUNNING:
            return Outcome(state=state, provider_job_id=generation_id, progress=status)
        results = result_refs(generation) if state == JobState.SUCCEEDED else []
        if results:
            return Outcome(state=state, provider_job_id=generation_id, results=results)
        words = failure_words(generation)
        if state == JobState.SUCCEEDED:
            message = f"{self.name} reported the upscale as done but sent no image."
        elif words:
            message = f"{self.name} could not upscale this image: {words}."
        else:
            message = f"{self.name} reported the upscale as failed."
        error = ProviderError(message, kind=ErrorKind.PROVIDER, provider_message=words)
        return Outcome(state=JobState.FAILED, provider_job_id=generation_id, error=error)

    # ----- errors ----------------------------------------------------------------------
    def provider_message(self, response: httpx.Response) -> str:
        try:
            body = response.json()
        except ValueError:
            return response.text[:300]
        if isinstance(body, Mapping) and isinstance(body.get("detail"), list):
            return validation_text(body["detail"])[:500]
        return first_message(body)[:500]

    def classify_error(
        self, status: int, words: str, response: httpx.Response
    ) -> tuple[ErrorKind, str] | None:
        """uwear's error bodies are undocumented: the status decides, its words are quoted."""
        if status in (400, 422):
            return ErrorKind.INPUT, f"{self.name} refused the request: {words or 'invalid'}."
        if status == 401:
            return ErrorKind.ACCOUNT, (
                f"{self.name} did not accept the API key. Check it under Providers."
            )
        if status == 402:
            return ErrorKind.ACCOUNT, f"The {self.name} account has run out of credits."
        if status == 403:
            return ErrorKind.ACCOUNT, (
                f"{self.name} refused this API key access"
                + (f": {words}." if words else ". Check the key and the plan's API access.")
            )
        if status == 404:
            return ErrorKind.INPUT, (
                f"{self.name} does not know this generation or result (its results can only "
                "be used for 4 hours after they were generated)."
            )
        return None


def generation_path(generation_id: str) -> str:
    return GENERATION_PATH.format(generation_id=quote(generation_id, safe=""))


def setting_text(value: Any) -> str:
    """generation_settings as the schema types it: a map of string to string.

    The OpenAPI schema gives `additionalProperties: string`, so booleans go as "true" /
    "false" (as the docs' table spells them) and numbers in their shortest form.
    """
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def created_id(response: httpx.Response, name: str) -> str:
    """The create reply's generation_id (an integer, possibly 0 in the docs' example).

    The create was accepted (2xx), so credits were probably taken: a reply we cannot read
    is an unknown outcome, never something to send again.
    """
    try:
        generation_id = response.json().get("generation_id")
    except (ValueError, AttributeError):
        generation_id = None
    valid = isinstance(generation_id, int | str) and not isinstance(generation_id, bool)
    if not valid or generation_id == "":
        raise ProviderError(
            f"{name} accepted the job but its reply names no generation id, "
            "so it cannot be followed.",
            kind=ErrorKind.UNKNOWN_OUTCOME,
            provider_message=response.text[:300],
            status_code=response.status_code,
        )
    return str(generation_id)


def result_refs(generation: Mapping[str, Any]) -> list[ResultRef]:
    results = generation.get("generation_results")
    return [
        ResultRef(url=str(item["image_url"]))
        for item in (results if isinstance(results, list) else [])
        if isinstance(item, Mapping) and item.get("image_url")
    ]


def failure_words(generation: Mapping[str, Any]) -> str:
    """The reason of a failed generation; its field is undocumented, so look in the usual ones."""
    for key in ("error_message", "error", "message", "detail"):
        words = first_message(generation.get(key))
        if words:
            return words[:500]
    return ""


def validation_text(detail: list[Any]) -> str:
    """FastAPI's validation list as `field: message; …` (the leading "body" dropped)."""
    parts = []
    for item in detail:
        if not isinstance(item, Mapping):
            parts.append(str(item))
            continue
        loc = item.get("loc") or []
        path = [str(p) for p in (loc if isinstance(loc, list) else [loc]) if p != "body"]
        msg = str(item.get("msg") or "")
        parts.append(f"{'.'.join(path)}: {msg}" if path else msg)
    return "; ".join(part for part in parts if part)
