"""Fake useapi.net Dreamina: image generation, upscale, job status, cancel.

Upscales take the `jobid` of a completed generation job of this fake (input is a provider
reference). Job ids contain ':' and '@' and usually arrive percent-encoded. Errors are
flat `{"error": "..."}`; 596 means the account's session is broken.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods, require_POST

from sandbox import clock, images, progress, webhooks
from sandbox import knobs as knobs_mod
from sandbox.models import JobKind, Phase, Provider, SandboxJob
from sandbox.results import origin_of, url_for
from sandbox.views.common import (
    ApiError,
    Dialect,
    Refusal,
    bearer_key,
    endpoint,
    is_int,
    is_number,
    knobs_of,
    note,
    read_json,
    reply,
    require_credits,
)

SLUG = Provider.USEAPI
MODELS = ("seedream-4.0", "seedream-4.1", "seedream-4.5", "seedream-4.6", "seedream-5.0-lite",
          "seedream-3.0", "nano-banana")  # fmt: skip
RATIOS = ("1:1", "4:3", "3:4", "16:9", "9:16", "3:2", "2:3", "21:9", "auto")
RESOLUTIONS = {"2k": 2048, "4k": 4096, "8k": 8192}
IMAGES_PER_GENERATION = 4
STATUS = {
    Phase.QUEUED: "created",
    Phase.RUNNING: "created",
    Phase.COMPLETED: "completed",
    Phase.FAILED: "failed",
    Phase.CANCELLED: "failed",
}
DEFAULT_FAILURE = "fail_code: 2043"


def _render(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return reply({"error": exc.message, **exc.extra}, exc.status)


DIALECT = Dialect(
    slug=SLUG,
    render=_render,
    read_key=bearer_key,
    unauthorized=Refusal(401, "Unauthorized"),
    rate_limited=Refusal(429, "Too many requests: all configured accounts are busy"),
    server_error=Refusal(503, "Service temporarily unavailable"),
    out_of_credits=Refusal(402, "Payment required: subscription expired or no credits left"),
    broken=Refusal(596, "Account session is broken, please delete and re-add the account"),
    ref_fields=("replyRef", "prompt"),
)


# ----- views ------------------------------------------------------------------------------
@require_POST
@endpoint(DIALECT, create=True)
def generate(request: HttpRequest) -> HttpResponse:
    body = _body(request)
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(400, "Parameter prompt is required")
    request_echo = {
        "prompt": prompt,
        "model": _choice(body, "model", MODELS, "seedream-4.0"),
        "ratio": _choice(body, "ratio", RATIOS, "1:1"),
        "resolution": _choice(body, "resolution", ("1k", "2k", "4k"), "2k"),
        "inputMode": "generate",
        **_webhook_fields(body),
    }
    require_credits(request, DIALECT)
    job = _create(request, JobKind.GENERATION, request_echo, model=request_echo["model"])
    return reply(_record(job, Phase.QUEUED, origin_of(request)))


@require_POST
@endpoint(DIALECT, create=True)
def upscale(request: HttpRequest) -> HttpResponse:
    body = _body(request)
    jobid = body.get("jobid")
    if not isinstance(jobid, str) or not jobid.strip():
        raise ApiError(400, "Parameter jobid is required")
    index = body.get("imageIndex", 0)
    if not is_int(index) or not 0 <= index < IMAGES_PER_GENERATION:
        raise ApiError(400, "Parameter imageIndex must be an integer from 0 to 3")
    request_echo = {
        "jobid": jobid,
        "imageIndex": index,
        "resolution": _choice(body, "upscaleResolution", tuple(RESOLUTIONS), "4k"),
        "originalImageStrength": _strength(body, "originalImageStrength", 0.65),
        "detailStrength": _strength(body, "detailStrength", 0.5),
        **_webhook_fields(body),
    }
    source = _completed_source(jobid)
    require_credits(request, DIALECT)
    job = _create(
        request,
        JobKind.UPSCALE,
        request_echo,
        model=source.params.get("model", "seedream-4.0"),
        parent=source,
        source_index=index,
    )
    return reply(_record(job, Phase.QUEUED, origin_of(request)))


@require_http_methods(["GET"])
@endpoint(DIALECT)
def job_status(request: HttpRequest, jobid: str) -> HttpResponse:
    job = _find(unquote(jobid))
    if job is None:
        raise ApiError(404, "Job not found")
    note(request, external_id=job.external_id)
    phase = progress.settle(job)
    webhooks.deliver_due(SLUG, webhook_payload)
    return reply(_record(job, phase, origin_of(request)))


@require_http_methods(["DELETE"])
@endpoint(DIALECT)
def cancel(request: HttpRequest, jobid: str) -> HttpResponse:
    job = _find(unquote(jobid))
    if job is None:
        raise ApiError(404, "Job not found")
    note(request, external_id=job.external_id)
    if not progress.cancel(job):
        # Only running jobs sit in the scheduler; a finished one is not there any more.
        raise ApiError(404, f"Job is {STATUS[progress.settle(job)]}, not in the scheduler")
    return HttpResponse(status=204)


# ----- request checks -----------------------------------------------------------------------
def _body(request: HttpRequest) -> dict[str, Any]:
    body = read_json(request, message="Request body must be valid JSON")
    if not isinstance(body, dict):
        raise ApiError(400, "Request body must be a JSON object")
    return body


def _choice(body: dict[str, Any], name: str, allowed: tuple[str, ...], default: str) -> str:
    value = body.get(name, default)
    if value not in allowed:
        raise ApiError(400, f"Parameter {name} must be one of {', '.join(allowed)}")
    return value


def _strength(body: dict[str, Any], name: str, default: float) -> float:
    value = body.get(name, default)
    if not is_number(value) or not 0 <= value <= 1:
        raise ApiError(400, f"Parameter {name} must be a number from 0 to 1")
    return float(value)


def _webhook_fields(body: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    reply_url = body.get("replyUrl")
    if reply_url is not None:
        parts = urlsplit(reply_url) if isinstance(reply_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise ApiError(400, "Parameter replyUrl must be a valid http(s) URL")
        found["replyUrl"] = reply_url
    reply_ref = body.get("replyRef")
    if reply_ref is not None:
        if not isinstance(reply_ref, str) or len(reply_ref) > 1024:
            raise ApiError(400, "Parameter replyRef must be a string of up to 1024 characters")
        found["replyRef"] = reply_ref
    max_jobs = body.get("maxJobs")
    if max_jobs is not None:
        if not is_int(max_jobs) or not 1 <= max_jobs <= 50:
            raise ApiError(400, "Parameter maxJobs must be an integer from 1 to 50")
        found["maxJobs"] = max_jobs
    return found


def _find(jobid: str) -> SandboxJob | None:
    return SandboxJob.objects.filter(provider=SLUG, external_id=jobid).first()


def _completed_source(jobid: str) -> SandboxJob:
    source = _find(jobid)
    if source is None:
        raise ApiError(404, "Source image job not found")
    if source.kind != JobKind.GENERATION:
        raise ApiError(400, "Source job must be an image generation job")
    phase = progress.settle(source)
    if phase != Phase.COMPLETED:
        raise ApiError(400, f"Source image job is {STATUS[phase]}, must be completed")
    return source


# ----- jobs ---------------------------------------------------------------------------------
def _new_jobid(kind: str) -> str:
    """Shaped like the real ones: j<MMDDhhmmss><9 digits><i|I>-u<user>-<region>:<email>:dreamina."""
    stamp = clock.now().strftime("%m%d%H%M%S")
    letter = "i" if kind == JobKind.GENERATION else "I"
    return f"j{stamp}{secrets.randbelow(10**9):09d}{letter}-u12345-US:sandbox@example.com:dreamina"


def _create(request: HttpRequest, kind: str, echo: dict[str, Any], **fields: Any) -> SandboxJob:
    jobid = _new_jobid(kind)
    note(request, client_ref=echo.get("replyRef") or echo.get("prompt", ""), external_id=jobid)
    job = progress.create_job(
        request,
        provider=SLUG,
        kind=kind,
        external_id=jobid,
        knobs=knobs_of(request),
        params={"request": echo, "model": fields.pop("model")},
        client_ref=str(echo.get("replyRef", ""))[:200],
        webhook_url=echo.get("replyUrl", ""),
        **fields,
    )
    webhooks.schedule(job, webhook_payload)
    return job


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _record(job: SandboxJob, phase: Phase, origin: str) -> dict[str, Any]:
    """The job record, as GET /images/{jobid} and the webhook show it."""
    record: dict[str, Any] = {
        "jobid": job.external_id,
        "type": "image" if job.kind == JobKind.GENERATION else "upscale",
        "status": STATUS[phase],
        "model": job.params.get("model", "seedream-4.0"),
        "created": _iso(job.created_at),
        "request": job.params.get("request", {}),
        "response": {"forecastCost": 0},
        "code": 200,
    }
    if "replyRef" in record["request"]:
        record["replyRef"] = record["request"]["replyRef"]
    if phase in progress.TERMINAL:
        record["updated"] = _iso(progress.done_at(job))
    if phase == Phase.COMPLETED:
        record["response"]["images"] = _images(job, origin)
    elif phase in (Phase.FAILED, Phase.CANCELLED):
        cancelled = phase == Phase.CANCELLED
        record["error"] = "Job cancelled" if cancelled else job.error or DEFAULT_FAILURE
        record["errorDetails"] = "Cancelled by the user" if cancelled else "Sandbox failure"
    return record


def _images(job: SandboxJob, origin: str) -> list[dict[str, Any]]:
    expires = progress.done_at(job) + timedelta(seconds=knobs_mod.current(SLUG).result_ttl_seconds)
    return [
        {
            "imageUrl": url_for(origin, result, expires),
            "width": result.width,
            "height": result.height,
            "format": result.format,
        }
        for result in progress.results_of(job)
    ]


def webhook_payload(job: SandboxJob, phase: Phase) -> dict[str, Any]:
    return _record(job, phase, job.origin)


# ----- pictures -----------------------------------------------------------------------------
@progress.renderer(SLUG, JobKind.GENERATION)
def _render_generation(job: SandboxJob) -> list[images.Rendered]:
    request = job.params.get("request", {})
    size = images.ratio_size(request.get("ratio", "1:1"))
    prompt = request.get("prompt", "")
    return [
        images.encode(images.synthetic(prompt, size, f"{job.external_id}/{index}"), "jpeg")
        for index in range(IMAGES_PER_GENERATION)
    ]


@progress.renderer(SLUG, JobKind.UPSCALE)
def _render_upscale(job: SandboxJob) -> list[images.Rendered]:
    if job.parent is None:
        raise images.ImageProblem("The source job is gone.", "corrupt")
    picture = images.open_stored(job.parent.results.get(index=job.source_index or 0).file_name)
    resolution = job.params.get("request", {}).get("resolution", "4k")
    size = images.long_side_size(picture.size, RESOLUTIONS[resolution])
    label = f"SANDBOX useapi {resolution} {size[0]}x{size[1]}"
    return [images.encode(images.upscale(picture, size, label), "jpeg")]
