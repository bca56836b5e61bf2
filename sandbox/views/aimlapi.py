"""Fake AI/ML API: `POST /v1/images/generations` with bytedance/dreamina-creative-upscale.

Synchronous: the upscale is made while the client waits. Errors use the provider's
`{message, path, requestId, statusCode, timestamp}` shape (statusCode as a number, as
seen in the wild; the docs show a string). 403 means out of credits.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_POST

from sandbox import clock, images, progress
from sandbox.fetch import FetchError, fetch
from sandbox.models import JobKind, Provider
from sandbox.results import origin_of, save_results, url_for
from sandbox.views.common import (
    ApiError,
    Dialect,
    Refusal,
    bearer_key,
    endpoint,
    is_int,
    knobs_of,
    note,
    read_json,
    reply,
    require_credits,
    source_image,
)

SLUG = Provider.AIMLAPI
MODEL = "bytedance/dreamina-creative-upscale"
RESOLUTIONS = {"2k": 2048, "4k": 4096}
# $1 = 2,000,000 credits [docs]; 2k costs 120,000 [seed]. The 4k price is a sandbox guess.
CREDITS = {"2k": 120_000, "4k": 240_000}
CREDITS_PER_USD = 2_000_000
LIMITS = images.Limits(
    formats=frozenset({"JPEG", "PNG"}), max_bytes=4_700_000, max_side=4096, max_pixels=4096**2
)
MAX_BODY = 8 * 1024 * 1024  # a 4.7 MB image as base64 plus the rest of the JSON
CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
VALIDATION = "Body validation error!"


def _path(request: HttpRequest) -> str:
    return request.path.partition(f"/sandbox/{SLUG}")[2] or request.path


def _render(request: HttpRequest, exc: ApiError) -> HttpResponse:
    body = {
        "message": exc.message,
        "path": _path(request),
        "requestId": str(uuid.uuid4()),
        "statusCode": exc.status,
        "timestamp": timezone.now().isoformat().replace("+00:00", "Z"),
        **exc.extra,
    }
    return _echo(request, reply(body, exc.status))


def _echo(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    client_id = request.headers.get("X-Client-Request-Id", "")
    if client_id and CLIENT_ID.fullmatch(client_id):
        response["X-Client-Request-Id"] = client_id
    return response


DIALECT = Dialect(
    slug=SLUG,
    render=_render,
    read_key=bearer_key,
    unauthorized=Refusal(401, "Unauthorized: missing or invalid API key"),
    rate_limited=Refusal(429, "Too many requests"),
    server_error=Refusal(503, "Service Unavailable"),
    out_of_credits=Refusal(403, "You've run out of credits. Top up your balance to continue."),
    broken=Refusal(401, "Invalid API key"),
    ref_header="X-Client-Request-Id",
)


@require_POST
@endpoint(DIALECT, create=True)
def generations(request: HttpRequest) -> HttpResponse:
    client_id = request.headers.get("X-Client-Request-Id", "")
    if client_id and not CLIENT_ID.fullmatch(client_id):
        raise ApiError(400, "X-Client-Request-Id must be 1-128 of [A-Za-z0-9._:-]")
    note(request, client_ref=client_id)
    params = _validate(read_json(request, max_bytes=MAX_BODY, message=VALIDATION))
    require_credits(request, DIALECT)
    image = source_image(_source_bytes(params["image_url"]), LIMITS)
    return _echo(request, _upscale(request, params, image))


def _validate(body: Any) -> dict[str, Any]:
    """The documented schema; anything off answers 400 "Body validation error!"."""
    if not isinstance(body, dict):
        raise ApiError(400, VALIDATION)
    params = {"resolution": "2k", "scale": 50, "response_format": "url", **body}
    checks = (
        params.get("model") == MODEL,
        isinstance(params.get("image_url"), str) and bool(params["image_url"]),
        params["resolution"] in RESOLUTIONS,
        is_int(params["scale"]) and 0 <= params["scale"] <= 100,
        params["response_format"] in ("url", "b64_json"),
    )
    if not all(checks):
        raise ApiError(400, VALIDATION)
    return params


def _source_bytes(image_url: str) -> bytes:
    if image_url.startswith("data:"):
        header, _, payload = image_url.partition(",")
        if ";base64" not in header:
            raise ApiError(400, "image_url data URLs must be base64-encoded")
        try:
            return base64.b64decode(payload, validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "image_url is not valid base64") from None
    if image_url.startswith(("http://", "https://")):
        try:
            return fetch(image_url, max_bytes=LIMITS.max_bytes)
        except FetchError as exc:
            raise ApiError(400, f"Failed to load image_url: {exc}") from None
    raise ApiError(400, VALIDATION)


def _upscale(request: HttpRequest, params: dict[str, Any], image: Any) -> HttpResponse:
    knobs = knobs_of(request)
    inference_id = str(uuid.uuid4())
    note(request, external_id=inference_id)
    job = progress.create_job(
        request,
        provider=SLUG,
        kind=JobKind.UPSCALE,
        external_id=inference_id,
        knobs=knobs,
        synchronous=True,
        params=_loggable(params),
        client_ref=request.headers.get("X-Client-Request-Id", ""),
    )
    if progress.fails(inference_id, knobs.failure_rate):
        job.error = "Generation timeout"
        job.save(update_fields=["error"])
        raise ApiError(504, "Generation timeout")
    size = images.long_side_size(image.size, RESOLUTIONS[params["resolution"]])
    label = f"SANDBOX aimlapi {params['resolution']} {size[0]}x{size[1]}"
    rendered = images.encode(images.upscale(image, size, label), "png")
    result = save_results(job, [rendered])[0]
    if params["response_format"] == "b64_json":
        item = {"url": None, "b64_json": base64.b64encode(rendered.data).decode()}
    else:
        expires = clock.now() + timedelta(seconds=knobs.result_ttl_seconds)
        item = {"url": url_for(origin_of(request), result, expires), "b64_json": None}
    credits = CREDITS[params["resolution"]]
    usd = credits / CREDITS_PER_USD
    body = {"data": [item], "meta": {"usage": {"credits_used": credits, "usd_spent": usd}}}
    headers = {
        "x-aimlapi-credits-used": str(credits),
        "x-aimlapi-usd-spent": str(usd),
        "x-inference-id": inference_id,
    }
    return reply(body, headers=headers)


def _loggable(params: dict[str, Any]) -> dict[str, Any]:
    """The params without a multi-megabyte data URL."""
    image_url = params["image_url"]
    if image_url.startswith("data:"):
        image_url = f"{image_url[:30]}… ({len(image_url)} characters)"
    return {**params, "image_url": image_url}
