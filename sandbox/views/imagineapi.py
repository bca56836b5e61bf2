"""Fake ImagineAPI (a Directus app): imagine, Enhance upscale 2x…12x, image status.

Upscales only take images generated here; each creates a NEW image object (model_type
"Enhance", parent_id, upscale_factor, upscaled_index). Results are WebP. Errors use the
Directus shape, and an unknown id answers 403 FORBIDDEN, as Directus does.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods, require_POST

from sandbox import images, progress
from sandbox import knobs as knobs_mod
from sandbox.models import JobKind, Phase, Provider, SandboxJob
from sandbox.results import origin_of, url_for
from sandbox.views.common import (
    ApiError,
    Dialect,
    Refusal,
    bearer_key,
    endpoint,
    knobs_of,
    note,
    read_json,
    reply,
    require_credits,
)

SLUG = Provider.IMAGINEAPI
SCALES = {"2x": 2, "4x": 4, "6x": 6, "8x": 8, "10x": 10, "12x": 12}
# Credits per scale [seed]; not part of any reply, kept for the admin and docs.
CREDITS = {"2x": 3, "4x": 10, "6x": 35, "8x": 45, "10x": 80, "12x": 100}
IMAGES_PER_GENERATION = 4
GRID_INDEX = IMAGES_PER_GENERATION  # a generation's 2x2 grid is stored after its 4 images
STATUS = {
    Phase.QUEUED: "pending",
    Phase.RUNNING: "in-progress",
    Phase.COMPLETED: "completed",
    Phase.FAILED: "failed",
    Phase.CANCELLED: "failed",
}
USER_ID = "0e6b7f4a-5d1c-4c53-9a57-5a4d2f1b0c11"
ASPECT = re.compile(r"--(?:ar|aspect)\s+(\d+:\d+)")
FORBIDDEN = Refusal(403, "You don't have permission to access this.", "FORBIDDEN")


def _render(request: HttpRequest, exc: ApiError) -> HttpResponse:
    error = {"message": exc.message, "extensions": {"code": exc.code or "INTERNAL_SERVER_ERROR"}}
    return reply({"errors": [error]}, exc.status)


DIALECT = Dialect(
    slug=SLUG,
    render=_render,
    read_key=bearer_key,
    unauthorized=Refusal(401, "Invalid user credentials.", "INVALID_CREDENTIALS"),
    rate_limited=Refusal(429, "Too many requests, retry later.", "REQUESTS_EXCEEDED"),
    server_error=Refusal(503, "Service is unavailable.", "SERVICE_UNAVAILABLE"),
    # ImagineAPI documents no out-of-credits error; the sandbox's closest guess.
    out_of_credits=Refusal(402, "Not enough credits.", "INSUFFICIENT_CREDITS"),
    broken=Refusal(401, "Token expired.", "TOKEN_EXPIRED"),
    ref_fields=("ref", "prompt"),
)


@require_POST
@endpoint(DIALECT, create=True)
def imagine(request: HttpRequest) -> HttpResponse:
    body = read_json(request)
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid payload.", code="INVALID_PAYLOAD")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        message = 'Validation failed for field "prompt". Value is required.'
        raise ApiError(400, message, code="FAILED_VALIDATION")
    ref = body.get("ref")
    require_credits(request, DIALECT)
    params = {"prompt": prompt, "ref": ref if isinstance(ref, str) else None}
    job = _create(request, JobKind.GENERATION, params, client_ref=params["ref"] or prompt)
    return reply({"data": _image(job, Phase.QUEUED, origin_of(request))})


@require_POST
@endpoint(DIALECT, create=True)
def upscale(request: HttpRequest, image_id: str, index: str, scale: str) -> HttpResponse:
    if scale not in SCALES:
        message = f'Invalid scale "{scale}": use one of {", ".join(SCALES)}.'
        raise ApiError(400, message, code="FAILED_VALIDATION")
    if not index.isdigit() or int(index) >= IMAGES_PER_GENERATION:
        raise ApiError(400, "Image index must be 0 to 3.", code="FAILED_VALIDATION")
    source = _find(image_id)
    if source is None:
        raise FORBIDDEN.error()
    if source.kind != JobKind.GENERATION:
        raise ApiError(400, "Only generated images can be upscaled.", code="INVALID_PAYLOAD")
    if progress.settle(source) != Phase.COMPLETED:
        raise ApiError(400, "The image is not completed yet.", code="INVALID_PAYLOAD")
    require_credits(request, DIALECT)
    params = {"upscale_factor": SCALES[scale], "upscaled_index": int(index), "scale": scale}
    job = _create(
        request, JobKind.UPSCALE, params, parent=source, source_index=int(index), client_ref=""
    )
    return reply({"data": _image(job, Phase.QUEUED, origin_of(request))})


@require_http_methods(["GET"])
@endpoint(DIALECT)
def image(request: HttpRequest, image_id: str) -> HttpResponse:
    job = _find(image_id)
    if job is None:
        raise FORBIDDEN.error()
    note(request, external_id=job.external_id)
    phase = progress.settle(job)
    return reply({"data": _image(job, phase, origin_of(request))})


def _find(image_id: str) -> SandboxJob | None:
    return SandboxJob.objects.filter(provider=SLUG, external_id=image_id).first()


def _create(
    request: HttpRequest, kind: str, params: dict[str, Any], client_ref: str, **fields: Any
) -> SandboxJob:
    image_id = str(uuid.uuid4())
    note(request, client_ref=client_ref, external_id=image_id)
    return progress.create_job(
        request,
        provider=SLUG,
        kind=kind,
        external_id=image_id,
        knobs=knobs_of(request),
        params=params,
        client_ref=client_ref[:200],
        **fields,
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _image(job: SandboxJob, phase: Phase, origin: str) -> dict[str, Any]:
    """The image object, with the fields the docs show for both kinds."""
    upscale = job.kind == JobKind.UPSCALE
    data: dict[str, Any] = {
        "error": None,
        "id": job.external_id,
        "status": STATUS[phase],
        "progress": round(progress.fraction(job) * 100) if phase == Phase.RUNNING else None,
        "ref": job.params.get("ref"),
        "url": None,
        "parent_id": job.parent.external_id if upscale and job.parent else None,
        "date_created": _iso(job.created_at),
        "integration_id": None,
        "model_type": "Enhance" if upscale else None,
        "upscale_factor": job.params.get("upscale_factor") if upscale else None,
        "upscaled_index": job.params.get("upscaled_index") if upscale else None,
        "user_created": USER_ID,
    }
    if not upscale:
        data.update(prompt=job.params.get("prompt", ""), upscaled_urls=None, upscaled=[])
    if phase == Phase.COMPLETED:
        _add_urls(data, job, origin)
    elif phase in (Phase.FAILED, Phase.CANCELLED):
        data["error"] = job.error or "Sandbox: the job failed."
    return data


def _add_urls(data: dict[str, Any], job: SandboxJob, origin: str) -> None:
    ttl = knobs_mod.current(SLUG).result_ttl_seconds
    expires = progress.done_at(job) + timedelta(seconds=ttl)
    urls = [url_for(origin, result, expires) for result in progress.results_of(job)]
    if job.kind == JobKind.UPSCALE:
        data["url"] = urls[0]
    else:
        data["url"] = urls[GRID_INDEX]
        data["upscaled_urls"] = urls[:GRID_INDEX]


# ----- pictures -----------------------------------------------------------------------------
@progress.renderer(SLUG, JobKind.GENERATION)
def _render_generation(job: SandboxJob) -> list[images.Rendered]:
    prompt = job.params.get("prompt", "")
    aspect = ASPECT.search(prompt)
    size = images.ratio_size(aspect.group(1) if aspect else "1:1")
    pictures = [
        images.synthetic(prompt, size, f"{job.external_id}/{i}")
        for i in range(IMAGES_PER_GENERATION)
    ]
    return [images.encode(p, "png") for p in [*pictures, images.grid(pictures)]]


@progress.renderer(SLUG, JobKind.UPSCALE)
def _render_upscale(job: SandboxJob) -> list[images.Rendered]:
    if job.parent is None:
        raise images.ImageProblem("The source image is gone.", "corrupt")
    source = job.parent.results.get(index=job.source_index or 0)
    picture = images.open_stored(source.file_name)
    factor = int(job.params.get("upscale_factor", 2))
    size = images.scaled_size(picture.size, factor)
    label = f"SANDBOX imagineapi {factor}x {size[0]}x{size[1]}"
    return [images.encode(images.upscale(picture, size, label), "webp")]
