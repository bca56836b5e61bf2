"""The provider interface: options, inputs, errors, results, and the one HTTP entry point.

Every provider module defines one `Provider` subclass. The engine only ever calls
`submit`, `poll`, `cancel` and `estimate`; adapters never touch the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any, ClassVar, Literal

import httpx

from jobs import outbound
from jobs.outbound import parse_retry_after


class InputKind(StrEnum):
    UPLOAD = "upload"  # the image bytes travel with the request
    PUBLIC_URL = "public_url"  # the provider fetches a URL of the source
    REFERENCE = "reference"  # an image that lives at the provider (its own job or image id)


class ErrorKind(StrEnum):
    """Mirrors `jobs.models.ErrorKind`; decides retry policy and what the user is told."""

    INPUT = "input"  # the request itself is wrong: never retried
    ACCOUNT = "account"  # bad key, out of credits, broken account: never retried
    PROVIDER = "provider"  # the provider ran the job and it failed: never retried
    TRANSIENT = "transient"  # nothing was done; safe to try again later
    UNKNOWN_OUTCOME = "unknown_outcome"  # a create may have been received: never re-sent


class ProviderError(Exception):
    """A provider call failed. `provider_message` keeps the provider's own words."""

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind,
        provider_message: str = "",
        status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.provider_message = provider_message
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        return self.kind == ErrorKind.TRANSIENT


class OptionError(ValueError):
    """A user-supplied option is wrong. `field` names it for forms and the API."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Option:
    """One documented provider option: the single source for validation, forms and the API."""

    name: str
    label: str
    type: Literal["choice", "int", "float", "bool", "text"]
    default: Any = None
    choices: tuple[Any, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    help: str = ""
    required: bool = False

    def clean(self, raw: Any) -> Any:
        if raw is None or raw == "":
            if self.required:
                raise OptionError(self.name, "is required.")
            return self.default
        cleaner = getattr(self, f"_clean_{self.type}")
        return cleaner(raw)

    def _clean_choice(self, raw: Any) -> Any:
        for choice in self.choices:
            if str(raw) == str(choice):
                return choice
        allowed = ", ".join(str(c) for c in self.choices)
        raise OptionError(self.name, f"must be one of {allowed} (got {raw!r}).")

    def _clean_int(self, raw: Any) -> int:
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise OptionError(self.name, f"must be a whole number (got {raw!r}).") from None
        return self._in_range(value)

    def _clean_float(self, raw: Any) -> float:
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise OptionError(self.name, f"must be a number (got {raw!r}).") from None
        return self._in_range(value)

    def _clean_bool(self, raw: Any) -> bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in {"1", "true", "on", "yes"}:
            return True
        if text in {"0", "false", "off", "no"}:
            return False
        raise OptionError(self.name, f"must be true or false (got {raw!r}).")

    def _clean_text(self, raw: Any) -> str:
        value = str(raw).strip()
        if not value and self.required:
            raise OptionError(self.name, "is required.")
        if self.maximum is not None and len(value) > self.maximum:
            raise OptionError(self.name, f"must be at most {int(self.maximum)} characters.")
        return value

    def _in_range(self, value: float) -> Any:
        low, high = self.minimum, self.maximum
        if low is not None and high is not None and not low <= value <= high:
            raise OptionError(
                self.name, f"must be between {_num(low)} and {_num(high)} (got {_num(value)})."
            )
        if low is not None and value < low:
            raise OptionError(self.name, f"must be at least {_num(low)} (got {_num(value)}).")
        if high is not None and value > high:
            raise OptionError(self.name, f"must be at most {_num(high)} (got {_num(value)}).")
        return value

    def describe(self) -> dict[str, Any]:
        """JSON-friendly description, for the API and the upload page."""
        data: dict[str, Any] = {"name": self.name, "label": self.label, "type": self.type}
        data["default"] = self.default
        for key in ("choices", "minimum", "maximum", "help", "required"):
            value = getattr(self, key)
            if value not in ((), None, ""):
                data[key] = list(value) if key == "choices" else value
        return data


def _num(value: float) -> str:
    """Numbers as people write them: 2147483647, 0.65, never 2.14748e+09."""
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


@dataclass(frozen=True)
class InputLimits:
    """What a provider accepts as an uploaded source. None means no documented limit."""

    formats: frozenset[str] = frozenset({"JPEG", "PNG", "WEBP"})
    max_bytes: int | None = None
    max_width: int | None = None
    max_height: int | None = None

    def problems(self, *, format: str, size_bytes: int, width: int, height: int) -> list[str]:
        found = []
        if format.upper() not in self.formats:
            found.append(f"takes {', '.join(sorted(self.formats))} only, not {format}")
        if self.max_bytes and size_bytes > self.max_bytes:
            found.append(f"takes files up to {self.max_bytes / 1_000_000:.1f} MB")
        if (self.max_width and width > self.max_width) or (
            self.max_height and height > self.max_height
        ):
            found.append(f"takes images up to {self.max_width}×{self.max_height} pixels")
        return found


@dataclass
class SourceInput:
    """What the engine hands an adapter about the image to upscale (exactly one kind set)."""

    kind: InputKind
    data: bytes | None = None
    filename: str = ""
    content_type: str = ""
    width: int = 0
    height: int = 0
    public_url: str = ""
    reference: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class JobRequest:
    job_id: str  # our public id, sent where the provider echoes a client reference
    options: dict[str, Any]
    source: SourceInput
    webhook_url: str = ""


@dataclass
class Cost:
    credits: Decimal
    usd_micros: int
    source: Literal["reported", "price_table"]


@dataclass
class ResultRef:
    """One output image: a URL to download, or bytes already in hand."""

    url: str = ""
    data: bytes | None = None
    width: int | None = None
    height: int | None = None
    is_safe: bool = True


class JobState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


@dataclass
class Outcome:
    """What a submit or a poll learned. A synchronous submit comes back already finished."""

    state: JobState
    provider_job_id: str = ""
    results: list[ResultRef] = field(default_factory=list)
    cost: Cost | None = None
    error: ProviderError | None = None
    progress: str = ""


class Provider:
    """Base class of all provider adapters."""

    slug: ClassVar[str]
    name: ClassVar[str]
    is_async: ClassVar[bool] = False
    needs_network: ClassVar[bool] = True
    default_base_url: ClassVar[str] = ""
    input_kinds: ClassVar[tuple[InputKind, ...]] = (InputKind.UPLOAD,)
    options: ClassVar[tuple[Option, ...]] = ()
    # Fields of a provider reference (REFERENCE input), validated like options.
    reference_fields: ClassVar[tuple[Option, ...]] = ()
    limits: ClassVar[InputLimits] = InputLimits()
    # Outputs can legitimately be huge (8k): the decompression-bomb limit for results.
    max_result_pixels: ClassVar[int] = 8192 * 8192
    max_result_bytes: ClassVar[int] = 200 * 1024 * 1024
    # Documented list prices, in the provider's own credits, by price key (see `price_key`).
    # Used when a reply does not say what it cost; the spend issue makes them editable.
    default_prices: ClassVar[Mapping[str, Decimal]] = {"default": Decimal(0)}
    usd_micros_per_credit: ClassVar[Decimal] = Decimal(0)
    credit_unit: ClassVar[str] = "credits"
    # What a job that the provider accepted and then failed costs (applied by jobs.ledger):
    # "free": never charged; "refunded": credits taken on accepting are given back;
    # "kept": credits taken on accepting stay taken.
    failed_job_charge: ClassVar[Literal["free", "refunded", "kept"]] = "free"
    # Images withheld as unsafe are billed like delivered ones (so not a billing anomaly).
    bills_withheld_images: ClassVar[bool] = False
    # Jobs one account may have running at the provider at once, unless the team sets it.
    default_max_in_flight: ClassVar[int] = 4
    poll_interval: ClassVar[float] = 2.0
    deadline_seconds: ClassVar[int] = 30 * 60
    summary: ClassVar[str] = ""

    def __init__(self, *, api_key: str = "", base_url: str = "") -> None:
        self.api_key = api_key
        self.base_url = (base_url or self.default_base_url).rstrip("/")

    # ----- options -------------------------------------------------------------------
    @classmethod
    def clean_options(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        unknown = set(raw) - {o.name for o in cls.options}
        if unknown:
            names = ", ".join(sorted(unknown))
            raise OptionError(sorted(unknown)[0], f"is not an option of {cls.name} ({names}).")
        cleaned = {o.name: o.clean(raw.get(o.name)) for o in cls.options}
        cls.check_option_combination(cleaned)
        return cleaned

    @classmethod
    def check_option_combination(cls, cleaned: dict[str, Any]) -> None:
        """Hook for rules that span several options."""

    @classmethod
    def clean_reference(cls, raw: Mapping[str, Any]) -> dict[str, Any]:
        return {f.name: f.clean(raw.get(f.name)) for f in cls.reference_fields}

    # ----- the calls the engine makes ------------------------------------------------
    def submit(self, request: JobRequest) -> Outcome:
        raise NotImplementedError

    def poll(self, provider_job_id: str) -> Outcome:
        raise NotImplementedError(f"{self.name} answers synchronously; there is nothing to poll.")

    def cancel(self, provider_job_id: str) -> bool:
        """Cancel at the provider. False when the provider has no cancel call."""
        return False

    @classmethod
    def price_key(cls, options: Mapping[str, Any]) -> str:
        """Which row of the price table these options fall on (e.g. "4x", "topaz")."""
        return "default"

    @classmethod
    def price_units(cls, options: Mapping[str, Any]) -> int:
        """How many priced units one job is (e.g. Ideogram bills per output image)."""
        return 1

    def estimate(self, options: Mapping[str, Any]) -> Cost:
        """The list price of one job with these options."""
        credits = Decimal(self.default_prices[self.price_key(options)]) * self.price_units(options)
        return self.cost_of_credits(credits, source="price_table")

    @classmethod
    def cost_of_credits(
        cls, credits: Decimal, *, source: Literal["reported", "price_table"] = "reported"
    ) -> Cost:
        usd = int((credits * cls.usd_micros_per_credit).to_integral_value())
        return Cost(credits=credits, usd_micros=usd, source=source)

    def check_connection(self) -> str:
        """Raise ProviderError when the key or host is wrong; return a short status line."""
        raise NotImplementedError

    # ----- HTTP ----------------------------------------------------------------------
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def request(
        self,
        method: str,
        path: str,
        *,
        creates_work: bool = False,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """The one way an adapter talks to its provider.

        `creates_work` marks calls that may start a paid job: a timeout after sending one
        is an unknown outcome, never a retryable error, because none of these APIs takes
        an idempotency key.
        """
        headers = {**self.auth_headers(), **kwargs.pop("headers", {})}
        url = f"{self.base_url}{path}"
        try:
            with outbound.provider_client(timeout=timeout) as client:
                response = client.request(method, url, headers=headers, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise ProviderError(
                f"Could not reach {self.name}: {exc}.", kind=ErrorKind.TRANSIENT
            ) from exc
        except outbound.BlockedAddress as exc:
            raise ProviderError(str(exc), kind=ErrorKind.INPUT) from exc
        except httpx.TransportError as exc:
            if creates_work:
                raise ProviderError(
                    f"{self.name} did not answer after the request was sent ({type(exc).__name__}),"
                    " so it may or may not have started the job.",
                    kind=ErrorKind.UNKNOWN_OUTCOME,
                ) from exc
            raise ProviderError(
                f"{self.name} did not answer in time ({type(exc).__name__}).",
                kind=ErrorKind.TRANSIENT,
            ) from exc
        if response.is_success:
            return response
        error = self.error_from_response(response)
        if creates_work:
            error = self.create_error(error)
        raise error

    # A gateway error after a create was sent may hide a paid job that did start.
    AMBIGUOUS_CREATE_STATUSES: ClassVar[frozenset[int]] = frozenset({500, 502, 504})
    # True where the provider documents that failed requests are never charged.
    failed_creates_are_free: ClassVar[bool] = False

    def create_error(self, error: ProviderError) -> ProviderError:
        """Make a retryable error on a create an unknown outcome when it may have started work.

        429 and 503 mean the request was turned away, so retrying is safe; 500/502/504
        can come after the provider accepted the job, and none of these APIs lets us
        resend a create without paying twice.
        """
        ambiguous = error.status_code in self.AMBIGUOUS_CREATE_STATUSES
        if error.kind != ErrorKind.TRANSIENT or not ambiguous or self.failed_creates_are_free:
            return error
        error.kind = ErrorKind.UNKNOWN_OUTCOME
        error.message = (
            f"{self.name} answered with a server error ({error.status_code}) after the job was "
            "sent, so it may or may not have started it."
        )
        return error

    def error_from_response(
        self, response: httpx.Response, *, status: int | None = None
    ) -> ProviderError:
        """Map an HTTP error to a ProviderError, keeping the provider's own words.

        `status` overrides the HTTP status for errors a provider wraps in a 2xx reply.
        Adapters refine the kind and the user-facing text through `classify_error`.
        """
        status = status or response.status_code
        words = self.provider_message(response)
        kind, text = self.classify_error(status, words, response) or (
            default_error_kind(status),
            default_error_text(self.name, status),
        )
        return ProviderError(
            text,
            kind=kind,
            provider_message=words,
            status_code=status,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )

    def classify_error(
        self, status: int, words: str, response: httpx.Response
    ) -> tuple[ErrorKind, str] | None:
        """A provider's own reading of an error reply; None keeps the generic one."""
        return None

    def provider_message(self, response: httpx.Response) -> str:
        """The provider's own words from an error body, whatever its shape."""
        try:
            body = response.json()
        except ValueError:
            return response.text[:300]
        return first_message(body)[:500]

    @staticmethod
    def json_of(response: httpx.Response, name: str) -> Any:
        """Decode a success body, turning garbage into a clear provider error."""
        try:
            return response.json()
        except (ValueError, json.JSONDecodeError):
            raise ProviderError(
                f"{name} sent a reply that is not JSON.",
                kind=ErrorKind.PROVIDER,
                provider_message=response.text[:200],
                status_code=response.status_code,
            ) from None


def json_object(response: httpx.Response, name: str, kind: ErrorKind) -> dict[str, Any]:
    """A success body that must be a JSON object; `kind` says what garbage means here.

    After a create a paid job may exist, so garbage is UNKNOWN_OUTCOME; after a status
    poll it is TRANSIENT, because reading again is safe.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise ProviderError(
            f"{name} sent a reply that is not a JSON object.",
            kind=kind,
            provider_message=response.text[:300],
            status_code=response.status_code,
        )
    return body


def first_message(body: Any) -> str:
    """Find a human message in the usual error shapes ({message}, {error}, {detail}, {errors})."""
    if isinstance(body, str):
        return body
    if isinstance(body, Mapping):
        for key in ("message", "error", "detail", "reject_reason", "errorDetails"):
            if body.get(key):
                return first_message(body[key])
        if body.get("errors"):
            return first_message(body["errors"])
    if isinstance(body, Iterable) and not isinstance(body, bytes | Mapping):
        for item in body:
            text = first_message(item)
            if text:
                return text
    return ""


def default_error_kind(status: int) -> ErrorKind:
    if status in (401, 402):
        return ErrorKind.ACCOUNT
    if status == 429 or status >= 500:
        return ErrorKind.TRANSIENT
    return ErrorKind.INPUT


def default_error_text(name: str, status: int) -> str:
    texts = {
        400: f"{name} refused the request as invalid.",
        401: f"{name} did not accept the API key. Check the key in the provider account.",
        402: f"The {name} account has run out of credits or its subscription has expired.",
        403: f"{name} refused access.",
        404: f"{name} does not know this item.",
        413: f"The image is too large for {name}.",
        422: f"{name} could not process this request.",
        429: f"{name} is rate-limiting us; we will try again shortly.",
    }
    if status >= 500:
        return f"{name} had a server error ({status}); we will try again shortly."
    return texts.get(status, f"{name} answered with an error ({status}).")
