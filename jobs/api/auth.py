"""`Authorization: Bearer <token>` for every API view, plus the rate limit and role checks.

API views are CSRF-exempt because they never look at the session: a browser's cookies
grant nothing here, only the token does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from jobs import permissions, tokens
from jobs.api import ratelimit
from jobs.api.errors import ApiError, error_response

ApiView = Callable[..., HttpResponse]
CHALLENGE = {"WWW-Authenticate": 'Bearer realm="upscaler"'}


def bearer_token(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate(request: HttpRequest) -> tokens.TokenAuth:
    raw = bearer_token(request)
    if raw is None:
        raise ApiError(
            401,
            "not_authenticated",
            "Send your API token as 'Authorization: Bearer ups_…'. Create one under Team → "
            "API tokens.",
            headers=CHALLENGE,
        )
    if not tokens.is_well_formed(raw):
        raise ApiError(
            401,
            "invalid_token",
            "This is not a valid Upscaler token (wrong format or checksum); check for a typo.",
            headers=CHALLENGE,
        )
    auth = tokens.authenticate(raw)
    if auth is None:
        raise ApiError(
            401, "invalid_token", "This token was revoked or does not exist.", headers=CHALLENGE
        )
    return auth


def check_rate(auth: tokens.TokenAuth) -> ratelimit.Verdict:
    verdict = ratelimit.hit(auth.token.token_hash[:24])
    if not verdict.allowed:
        raise ApiError(
            429,
            "rate_limited",
            f"Too many requests: this token may make {verdict.limit} per minute. "
            f"Try again in {verdict.retry_after} s.",
            details={"retry_after": verdict.retry_after, "limit": verdict.limit},
            headers=verdict.headers(),
        )
    return verdict


def api_view(methods: Iterable[str] = ("GET",), *, spends: bool = False) -> Callable:
    """Wrap a view `(request, auth, **kwargs)`: method, token, rate limit, role, errors."""
    allowed = tuple(methods)

    def decorator(view: ApiView) -> ApiView:
        @csrf_exempt
        @wraps(view)
        def wrapped(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                return _run(view, allowed, spends, request, **kwargs)
            except ApiError as error:
                return error.response()

        return wrapped

    return decorator


def _run(
    view: ApiView, allowed: tuple[str, ...], spends: bool, request: HttpRequest, **kwargs: Any
) -> HttpResponse:
    if request.method not in allowed:
        raise ApiError(
            405,
            "method_not_allowed",
            f"Use {' or '.join(allowed)} here.",
            headers={"Allow": ", ".join(allowed)},
        )
    auth = authenticate(request)
    verdict = check_rate(auth)
    if spends and not permissions.can_spend(auth.membership):
        raise ApiError(403, "forbidden", permissions.VIEWER_CANNOT_SPEND)
    response = view(request, auth, **kwargs)
    for name, value in verdict.headers().items():
        response[name] = value
    return response


@csrf_exempt
def not_found_view(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Unknown paths under /api/v1/ answer in the API's error shape, not an HTML page."""
    return error_response(404, "not_found", "There is no such API endpoint. See /api/v1/docs.")
