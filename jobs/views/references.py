"""Make a provider-side source image in the sandbox, for providers that only take references.

useapi.net and ImagineAPI can only upscale images they generated themselves. Real clients
create those with the provider's own generation call; for a sandbox account the upload
page offers the same, so the reference-based flow can be tried in the browser. Real
accounts are not offered this: a generation is a paid job of its own.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from jobs import engine, services
from jobs.forms import REFERENCE_PREFIX, SubmitForm
from jobs.models import ProviderAccount
from jobs.providers.base import JobState, Provider, ProviderError
from jobs.providers.registry import PROVIDERS
from jobs.views.pages import team_required

PARTIAL = "jobs/upload.html#provider-options"


def sandbox_generator(team: Any, slug: str) -> Provider | None:
    """The adapter of the team's sandbox account for `slug`, if it can generate sources."""
    cls = PROVIDERS.get(slug)
    account: ProviderAccount | None = services.account_for(team, slug)
    if cls is None or account is None or not account.is_sandbox:
        return None
    if not hasattr(cls, "generate_source"):
        return None
    return engine.adapter_for(account)


@team_required
@require_POST
def generate_reference(request: HttpRequest) -> HttpResponse:
    slug = request.POST.get("provider", "")
    prompt = request.POST.get("prompt", "").strip() or "a lighthouse on a cliff at dusk"
    adapter = sandbox_generator(request.team, slug)
    if adapter is None:
        return _options(request, slug, error="Only sandbox accounts can generate a source here.")
    try:
        reference = adapter.generate_source(prompt)
    except ProviderError as exc:
        return _options(request, slug, error=exc.message)
    generation_id = str(reference.get("jobid") or reference.get("image_id"))
    initial = {REFERENCE_PREFIX + name: value for name, value in reference.items()}
    return _options(request, slug, initial=initial, generation_id=generation_id)


@team_required
@require_GET
def reference_status(request: HttpRequest) -> HttpResponse:
    """Live status of a generation; polling stops (286) once it has finished."""
    slug, generation_id = request.GET.get("provider", ""), request.GET.get("id", "")
    adapter = sandbox_generator(request.team, slug)
    if adapter is None or not generation_id:
        return HttpResponseStopPolling("")
    try:
        state = adapter.poll(generation_id).state
    except ProviderError as exc:
        return HttpResponseStopPolling(f'<span class="error">{exc.message}</span>')
    context = {"provider": slug, "generation_id": generation_id, "state": state}
    response = _render_status(request, context)
    return response if state == JobState.RUNNING else HttpResponseStopPolling(response.content)


def _render_status(request: HttpRequest, context: dict[str, Any]) -> HttpResponse:
    from django.shortcuts import render

    return render(request, "jobs/upload.html#reference-status", context)


def _options(request: HttpRequest, slug: str, **context: Any) -> HttpResponse:
    from django.shortcuts import render

    form = SubmitForm(team=request.team, provider=slug, initial=context.pop("initial", None))
    context.update(form=form, provider=slug, state=JobState.RUNNING)
    return render(request, PARTIAL, context)


urlpatterns = [
    path("upload/reference/", generate_reference, name="generate_reference"),
    path("upload/reference/status", reference_status, name="reference_status"),
]
