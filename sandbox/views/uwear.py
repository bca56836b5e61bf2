"""Fake uwear.ai: upscale by `image_url` or `generation_result_id`, poll the generation.

Served both under the legacy `/api/v1` prefix and the bare path uwear is moving to. Like
the real service, the fake FETCHES `image_url` itself (when the upscale is created); an
unreachable URL or a non-image ends the job with status Error. Errors are FastAPI-style
`{"detail": ...}`, with 422 and a list of problems for validation.

`POST /generation` (a prompt → synthetic pictures) is a sandbox-only convenience, so a
`generation_result_id` can be had without a real uwear generation.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods, require_POST

from sandbox import clock, images, progress
from sandbox import knobs as knobs_mod
from sandbox.fetch import FetchError, fetch
from sandbox.models import JobKind, Phase, Provider, SandboxJob, SandboxResult
from sandbox.results import origin_of, store, url_for
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
)
from sandbox.views.uwear_rules import validate_upscale

SLUG = Provider.UWEAR
STATUS = {
    Phase.QUEUED: "Created",
    Phase.RUNNING: "Ongoing",
    Phase.COMPLETED: "Done",
    Phase.FAILED: "Error",
    Phase.CANCELLED: "Error",
}
SOURCE_LIMITS = images.Limits(
    formats=frozenset({"JPEG", "PNG", "WEBP"}), max_bytes=30 * 1024 * 1024, max_pixels=8192**2
)
RECRAFT_FACTOR = 2  # uwear does not say what recraft does to the size; the sandbox doubles


def _render(request: HttpRequest, exc: ApiError) -> HttpResponse:
    detail = exc.extra.get("detail", exc.message)
    return reply({"detail": detail}, exc.status)


DIALECT = Dialect(
    slug=SLUG,
    render=_render,
    read_key=bearer_key,
    unauthorized=Refusal(401, "Not authenticated"),
    rate_limited=Refusal(429, "Too many requests"),
    server_error=Refusal(500, "Internal Server Error"),
    # uwear documents no out-of-credits error; the sandbox's closest guess.
    out_of_credits=Refusal(402, "Not enough credits"),
    broken=Refusal(401, "Invalid API key"),
    ref_fields=("image_url", "prompt"),
)


@require_POST
@endpoint(DIALECT, create=True)
def create_upscale(request: HttpRequest) -> HttpResponse:
    params = validate_upscale(read_json(request, status=422, message="JSON decode error"))
    parent = _result_source(params.get("generation_result_id"))
    require_credits(request, DIALECT)
    fields: dict[str, Any] = {"params": params}
    if parent is not None:
        fields.update(parent=parent.job, source_index=parent.index)
    else:
        fields.update(_fetched_source(params["image_url"]))
    job = _create(request, JobKind.UPSCALE, client_ref=params.get("image_url", ""), **fields)
    return reply(_created(job))


@require_POST
@endpoint(DIALECT, create=True)
def create_generation(request: HttpRequest) -> HttpResponse:
    body = read_json(request, status=422, message="JSON decode error")
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
        raise _invalid("missing", ["body", "prompt"], "Field required")
    count = body.get("num_images", 1)
    if not is_int(count) or not 1 <= count <= 4:
        raise _invalid("less_than_equal", ["body", "num_images"], "Input should be 1 to 4")
    require_credits(request, DIALECT)
    params = {"prompt": body["prompt"], "num_images": count}
    job = _create(request, JobKind.GENERATION, client_ref=body["prompt"], params=params)
    return reply(_created(job))


@require_http_methods(["GET"])
@endpoint(DIALECT)
def generation(request: HttpRequest, generation_id: str) -> HttpResponse:
    if not generation_id.isdigit():
        message = "Input should be a valid integer, unable to parse string as an integer"
        raise _invalid("int_parsing", ["path", "generation_id"], message, generation_id)
    job = SandboxJob.objects.filter(provider=SLUG, external_id=generation_id).first()
    if job is None:
        raise ApiError(404, "Generation not found")
    note(request, external_id=job.external_id)
    phase = progress.settle(job)
    return reply(_generation(job, phase, origin_of(request)))


# ----- helpers ------------------------------------------------------------------------------
def _invalid(kind: str, loc: list[str], msg: str, value: Any = None) -> ApiError:
    problem = {"type": kind, "loc": loc, "msg": msg, "input": value}
    return ApiError(422, msg, extra={"detail": [problem]})


def _result_source(result_id: int | None) -> SandboxResult | None:
    """The earlier result an upscale starts from; usable for the result TTL (4 h)."""
    if result_id is None:
        return None
    result = (
        SandboxResult.objects.select_related("job").filter(pk=result_id, job__provider=SLUG).first()
    )
    if result is None:
        raise ApiError(404, "Generation result not found")
    ttl = timedelta(seconds=knobs_mod.current(SLUG).result_ttl_seconds)
    if progress.done_at(result.job) + ttl <= clock.now():
        raise ApiError(400, "Generation result has expired (results are kept for 4 hours)")
    return result


def _fetched_source(url: str) -> dict[str, Any]:
    """Fetch and check the image now; a failure is kept and reported as status Error."""
    try:
        data = fetch(url, max_bytes=SOURCE_LIMITS.max_bytes)
        images.open_source(data, SOURCE_LIMITS)
    except FetchError as exc:
        return {"error": f"Could not download image_url: {exc}"}
    except images.ImageProblem as exc:
        return {"error": f"image_url is not a usable image: {exc.message}"}
    name = store(SLUG, data, "source")
    return {"source_file": name}


def _create(request: HttpRequest, kind: str, *, client_ref: str, **fields: Any) -> SandboxJob:
    job = progress.create_job(
        request,
        provider=SLUG,
        kind=kind,
        external_id=f"pending-{uuid.uuid4()}",
        knobs=knobs_of(request),
        client_ref=client_ref[:200],
        **fields,
    )
    # uwear ids are integers: the row's own pk, known only after the insert.
    job.external_id = str(job.pk)
    job.save(update_fields=["external_id"])
    note(request, client_ref=client_ref, external_id=job.external_id)
    return job


def _iso(moment: datetime) -> str:
    return moment.isoformat()


def _created(job: SandboxJob) -> dict[str, Any]:
    stamp = _iso(job.created_at)
    return {"generation_id": job.pk, "created_at": stamp, "updated_at": stamp}


def _generation(job: SandboxJob, phase: Phase, origin: str) -> dict[str, Any]:
    updated = progress.done_at(job) if phase in progress.TERMINAL else job.created_at
    data: dict[str, Any] = {
        "id": job.pk,
        "generation_id": job.pk,
        "type": job.kind,
        "status": STATUS[phase],
        "model_name": job.params.get("model_name"),
        "created_at": _iso(job.created_at),
        "updated_at": _iso(updated),
        "generation_results": [],
        "error": None,
    }
    if phase == Phase.COMPLETED:
        ttl = timedelta(seconds=knobs_mod.current(SLUG).result_ttl_seconds)
        done = progress.done_at(job)
        data["generation_results"] = [
            {"id": r.pk, "image_url": url_for(origin, r, done + ttl), "created_at": _iso(done)}
            for r in progress.results_of(job)
        ]
    elif phase in (Phase.FAILED, Phase.CANCELLED):
        data["error"] = job.error or "Sandbox: the upscale failed."
    return data


# ----- pictures -----------------------------------------------------------------------------
@progress.renderer(SLUG, JobKind.GENERATION)
def _render_generation(job: SandboxJob) -> list[images.Rendered]:
    prompt = job.params.get("prompt", "")
    count = int(job.params.get("num_images", 1))
    size = (images.SYNTHETIC_LONG_SIDE, images.SYNTHETIC_LONG_SIDE)
    return [
        images.encode(images.synthetic(prompt, size, f"{job.pk}/{i}"), "png") for i in range(count)
    ]


@progress.renderer(SLUG, JobKind.UPSCALE)
def _render_upscale(job: SandboxJob) -> list[images.Rendered]:
    if job.source_file:
        picture = images.open_stored(job.source_file)
    elif job.parent is not None:
        picture = images.open_stored(job.parent.results.get(index=job.source_index).file_name)
    else:
        raise images.ImageProblem("The source image is gone.", "corrupt")
    model = job.params.get("model_name", "recraft")
    factor = RECRAFT_FACTOR
    if model == "topaz":
        factor = int(job.params["generation_settings"]["upscale_factor"].rstrip("x"))
    size = images.scaled_size(picture.size, factor)
    label = f"SANDBOX uwear {model} {factor}x {size[0]}x{size[1]}"
    return [images.encode(images.upscale(picture, size, label), "png")]
