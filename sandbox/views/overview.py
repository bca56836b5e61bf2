"""GET /sandbox/: what the sandbox serves and how its knobs are set, as JSON."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from sandbox import knobs
from sandbox.knobs import KNOB_NAMES
from sandbox.results import origin_of

ENDPOINTS = {
    "aimlapi": ["POST /v1/images/generations"],
    "useapi": [
        "POST /v1/dreamina/images",
        "POST /v1/dreamina/images/upscale",
        "GET /v1/dreamina/images/{jobid}",
        "DELETE /v1/dreamina/scheduler/{jobid}",
    ],
    "imagineapi": [
        "POST /items/images",
        "POST /items/images/{id}/{index}/upscale/{2x|4x|6x|8x|10x|12x}",
        "GET /items/images/{id}",
    ],
    "uwear": [
        "POST /api/v1/generation-upscale",
        "GET /api/v1/generation/{id}",
        "POST /api/v1/generation (sandbox only)",
    ],
    "ideogram": ["POST /upscale"],
}


@require_GET
def index(request: HttpRequest) -> JsonResponse:
    base = origin_of(request) + "/sandbox"
    providers = {}
    for slug in knobs.slugs():
        row = knobs.get_row(slug)
        providers[slug] = {
            "base_url": f"{base}/{slug}",
            "endpoints": ENDPOINTS[slug],
            "knobs": {name: getattr(row, name) for name in KNOB_NAMES},
        }
    notes = (
        "Any non-empty key is accepted. Change knobs in the Django admin (Sandbox › knobs) "
        "or per request with ?sandbox_<knob>=value (not the *_next counters)."
    )
    return JsonResponse({"providers": providers, "notes": notes})
