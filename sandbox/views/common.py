"""What every fake endpoint does around its own logic.

`endpoint(dialect)` wraps a view with, in this order: the latency knob, the key check,
the account-broken knob, the rate-limit and server-error counters, the view itself (which
raises `ApiError` for anything it refuses), the malformed knob, and the request log.
A `Dialect` says how one provider spells its errors and where it reads its key.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from sandbox import images, log
from sandbox import knobs as knobs_mod
from sandbox.knobs import Knobs

View = Callable[..., HttpResponse]


class ApiError(Exception):
    """A refusal, rendered in the provider's own error shape by its dialect."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str = "",
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.extra = extra or {}
        self.headers = headers or {}


@dataclass(frozen=True)
class Refusal:
    """A canned error: status, message, code (Directus), extra body fields."""

    status: int
    message: str
    code: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def error(self, **kwargs: Any) -> ApiError:
        return ApiError(self.status, self.message, code=self.code, extra=self.extra, **kwargs)


@dataclass(frozen=True)
class Dialect:
    slug: str
    render: Callable[[HttpRequest, ApiError], HttpResponse]
    read_key: Callable[[HttpRequest], str]
    unauthorized: Refusal
    rate_limited: Refusal
    server_error: Refusal
    out_of_credits: Refusal
    broken: Refusal
    # Where a client reference is found for the request log, when the view never said.
    ref_header: str = ""
    ref_fields: tuple[str, ...] = ()


def bearer_key(request: HttpRequest) -> str:
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


def knobs_of(request: HttpRequest) -> Knobs:
    return request.sandbox_knobs  # type: ignore[attr-defined]


def note(request: HttpRequest, *, client_ref: str = "", external_id: str = "") -> None:
    """Tell the request log who asked (a client reference) and which job it touched."""
    if client_ref:
        request.sandbox_ref = str(client_ref)  # type: ignore[attr-defined]
    if external_id:
        request.sandbox_external_id = str(external_id)  # type: ignore[attr-defined]


def endpoint(dialect: Dialect, *, create: bool = False) -> Callable[[View], View]:
    """Wrap a fake provider view with the shared knobs, error rendering and logging."""

    def wrap(view: View) -> View:
        @csrf_exempt
        @functools.wraps(view)
        def handle(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            knobs = knobs_mod.current(dialect.slug, request.GET)
            request.sandbox_knobs = knobs  # type: ignore[attr-defined]
            if knobs.latency_seconds:
                time.sleep(knobs.latency_seconds)
            try:
                _gatekeep(request, dialect, knobs)
                response = view(request, *args, **kwargs)
            except ApiError as exc:
                response = render_error(request, dialect, exc)
            if knobs.malformed:
                response = _break(response)
            _record(request, dialect, create, response)
            return response

        return handle

    return wrap


def _gatekeep(request: HttpRequest, dialect: Dialect, knobs: Knobs) -> None:
    """The checks every request meets before the provider looks at it."""
    if not dialect.read_key(request):
        raise dialect.unauthorized.error()
    if knobs.account_broken:
        raise dialect.broken.error()
    # The counters were read with the other knobs: only a non-zero one costs a write.
    if knobs.rate_limit_next and knobs_mod.take(dialect.slug, "rate_limit_next"):
        retry_after = str(knobs.retry_after_seconds)
        raise dialect.rate_limited.error(headers={"Retry-After": retry_after})
    if knobs.server_errors_next and knobs_mod.take(dialect.slug, "server_errors_next"):
        server = dialect.server_error
        raise ApiError(knobs.server_error_status, server.message, code=server.code)


def render_error(request: HttpRequest, dialect: Dialect, exc: ApiError) -> HttpResponse:
    response = dialect.render(request, exc)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def require_credits(request: HttpRequest, dialect: Dialect) -> None:
    """Creates call this once the request is valid: that is when a provider charges."""
    if knobs_of(request).out_of_credits:
        raise dialect.out_of_credits.error()


def _break(response: HttpResponse) -> HttpResponse:
    """Cut a successful JSON reply in half: the status says OK, the body does not parse."""
    if 200 <= response.status_code < 300 and "json" in response.get("Content-Type", ""):
        response.content = response.content[: max(1, len(response.content) // 2)]
    return response


def _record(request: HttpRequest, dialect: Dialect, create: bool, response: HttpResponse) -> None:
    log.record(
        dialect.slug,
        method=request.method or "",
        path=request.get_full_path(),
        status_code=response.status_code,
        is_create=create and request.method == "POST",
        client_ref=_client_ref(request, dialect) if create else "",
        external_id=getattr(request, "sandbox_external_id", ""),
    )


MAX_PEEK_BYTES = 256 * 1024


def _client_ref(request: HttpRequest, dialect: Dialect) -> str:
    """Who asked, even for a create refused before its view ran (429, 5xx, bad input),
    so a test can count every attempt a client made for one job."""
    if getattr(request, "sandbox_ref", ""):
        return request.sandbox_ref  # type: ignore[attr-defined]
    if dialect.ref_header and request.headers.get(dialect.ref_header):
        return request.headers[dialect.ref_header]
    body = getattr(request, "sandbox_json", None)
    if body is None and not getattr(request, "_read_started", True):
        body = _peek_json(request)
    if isinstance(body, dict):
        for name in dialect.ref_fields:
            if isinstance(body.get(name), str) and body[name]:
                return body[name]
    return ""


def _peek_json(request: HttpRequest) -> Any:
    """The JSON body of a request no view read (Ideogram's sits in a multipart field)."""
    try:
        if request.content_type == "multipart/form-data":
            return json.loads(request.POST.get("image_request") or "null")
        if request.content_type == "application/json":
            return json.loads(request.read(MAX_PEEK_BYTES))
    except (ValueError, UnicodeDecodeError, MultiPartParserError):
        return None
    return None


# ----- request bodies ----------------------------------------------------------------------
def read_json(
    request: HttpRequest,
    *,
    max_bytes: int = 1024 * 1024,
    status: int = 400,
    message: str = "Invalid JSON body.",
    code: str = "INVALID_PAYLOAD",
) -> Any:
    """The JSON body, read with our own cap.

    Read from the stream rather than `request.body`, whose DATA_UPLOAD_MAX_MEMORY_SIZE
    (5 MB here) is smaller than a legitimate 4.7 MB image sent as a base64 data URL.
    """
    raw = request.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ApiError(413, "Request body too large.", code="PAYLOAD_TOO_LARGE")
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(status, message, code=code) from None
    request.sandbox_json = body  # type: ignore[attr-defined]
    return body


def source_image(
    data: bytes, limits: images.Limits, *, statuses: dict[str, int] | None = None, code: str = ""
) -> Any:
    """Decode an uploaded source, turning a refusal into the provider's error (400 unless
    `statuses` maps the reason, e.g. {"bytes": 413})."""
    try:
        return images.open_source(data, limits)
    except images.ImageProblem as problem:
        status = (statuses or {}).get(problem.reason, 400)
        raise ApiError(status, problem.message, code=code) from None


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(data, status=status, safe=False)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def is_int(value: Any) -> bool:
    """A JSON integer (True/False are ints in Python, not in JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
