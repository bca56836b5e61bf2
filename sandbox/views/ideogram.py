"""Fake Ideogram: `POST /upscale`, multipart, key in the `Api-Key` header (not Bearer).

Synchronous. One output per `num_images`, each twice the source size (Ideogram does not
document the factor; the long side is capped at 8192). URLs carry `exp=` and expire.
Errors are `{"error": "..."}`; 402 adds `reject_reason`. The failure knob answers 422
(failed safety check); the `unsafe_results` knob returns items with `is_image_safe`
false and no URL, which the real service still bills.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.http import require_POST

from sandbox import clock, images, progress
from sandbox.models import JobKind, Provider
from sandbox.results import origin_of, save_results, url_for
from sandbox.views.common import (
    ApiError,
    Dialect,
    Refusal,
    endpoint,
    is_int,
    knobs_of,
    note,
    reply,
    require_credits,
    source_image,
)

SLUG = Provider.IDEOGRAM
MAX_FILE_BYTES = 10_000_000  # "max size 10MB" [seed]; newer docs say 25 MB
LIMITS = images.Limits(
    formats=frozenset({"JPEG", "PNG", "WEBP"}), max_bytes=MAX_FILE_BYTES, max_pixels=4096**2
)
FACTOR = 2
MAX_SEED = 2_147_483_647
RANGES = {"resemblance": (1, 100), "detail": (1, 100), "num_images": (1, 8), "seed": (0, MAX_SEED)}
DEFAULTS: dict[str, Any] = {
    "prompt": "",
    "resemblance": 50,
    "detail": 50,
    "magic_prompt_option": "AUTO",
    "num_images": 1,
}


def _key(request: HttpRequest) -> str:
    return request.headers.get("Api-Key", "").strip()


def _render(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return reply({"error": exc.message, **exc.extra}, exc.status)


DIALECT = Dialect(
    slug=SLUG,
    render=_render,
    read_key=_key,
    unauthorized=Refusal(401, "Unauthorized: send your API key in the Api-Key header"),
    rate_limited=Refusal(429, "Too many requests"),
    server_error=Refusal(503, "Service unavailable"),
    out_of_credits=Refusal(
        402, "Insufficient funds", extra={"reject_reason": "insufficient_funds"}
    ),
    broken=Refusal(401, "Invalid API key"),
    ref_fields=("prompt",),
)


@require_POST
@endpoint(DIALECT, create=True)
def upscale(request: HttpRequest) -> HttpResponse:
    try:
        upload = request.FILES.get("image_file")
        raw_request = request.POST.get("image_request")
    except MultiPartParserError:
        raise ApiError(400, "The request must be multipart/form-data") from None
    params = _image_request(raw_request)
    request.sandbox_json = params  # type: ignore[attr-defined]
    note(request, client_ref=params["prompt"])
    if upload is None:
        raise ApiError(400, "image_file is required")
    if upload.size > MAX_FILE_BYTES:
        raise ApiError(413, "image_file is too large (max 10MB)")
    picture = source_image(upload.read(), LIMITS, statuses={"bytes": 413})
    require_credits(request, DIALECT)
    return _upscale(request, params, picture)


def _image_request(raw: str | None) -> dict[str, Any]:
    if raw is None:
        raise ApiError(400, "image_request is required")
    try:
        body = json.loads(raw)
    except ValueError:
        raise ApiError(400, "image_request must be a JSON object") from None
    if not isinstance(body, dict):
        raise ApiError(400, "image_request must be a JSON object")
    params = {**DEFAULTS, **body}
    for name, (low, high) in RANGES.items():
        value = params.get(name)
        if value is not None and (not is_int(value) or not low <= value <= high):
            raise ApiError(400, f"{name} must be an integer from {low} to {high}")
    if params["magic_prompt_option"] not in ("AUTO", "ON", "OFF"):
        raise ApiError(400, "magic_prompt_option must be AUTO, ON or OFF")
    if not isinstance(params["prompt"], str):
        raise ApiError(400, "prompt must be a string")
    return params


def _upscale(request: HttpRequest, params: dict[str, Any], picture: Any) -> HttpResponse:
    knobs = knobs_of(request)
    request_id = str(uuid.uuid4())
    note(request, external_id=request_id)
    job = progress.create_job(
        request,
        provider=SLUG,
        kind=JobKind.UPSCALE,
        external_id=request_id,
        knobs=knobs,
        synchronous=True,
        params=params,
        client_ref=params["prompt"][:200],
    )
    if progress.fails(request_id, knobs.failure_rate):
        job.error = "The image failed the safety check"
        job.save(update_fields=["error"])
        raise ApiError(422, "Image or prompt failed safety check")
    seeds = _seeds(params)
    size = images.scaled_size(picture.size, FACTOR)
    renders = [
        images.encode(images.upscale(picture, size, f"SANDBOX ideogram seed {seed}"), "png")
        for seed in seeds
    ]
    results = save_results(job, renders)
    expires = clock.now() + timedelta(seconds=knobs.result_ttl_seconds)
    origin = origin_of(request)
    items = []
    for seed, result in zip(seeds, results, strict=True):
        safe = not knobs.unsafe_results
        items.append(
            {
                "url": url_for(origin, result, expires) if safe else None,
                "resolution": f"{result.width}x{result.height}",
                "is_image_safe": safe,
                "seed": seed,
                "prompt": _prompt(params),
                "style_type": "GENERAL",
            }
        )
    created = job.created_at.strftime("%Y-%m-%d %H:%M:%S+00:00")
    return reply({"created": created, "data": items})


def _seeds(params: dict[str, Any]) -> list[int]:
    first = params.get("seed")
    if first is None:
        first = random.randrange(MAX_SEED)
    return [(first + index) % (MAX_SEED + 1) for index in range(params["num_images"])]


def _prompt(params: dict[str, Any]) -> str:
    """What Ideogram says it used: MagicPrompt may rewrite the prompt."""
    prompt = params["prompt"]
    if params["magic_prompt_option"] == "OFF":
        return prompt
    return f"{prompt} (sharpened, finely detailed)".strip() if prompt else "A detailed photo"
