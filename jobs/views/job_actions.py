"""Cancel and retry, from the job page.

POST only (so CSRF-checked), members and above (viewers cannot spend), and scoped to the
current team: another team's job is a 404. The work is done by `jobs.services`; these
views only translate its refusals into messages.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from jobs import services
from jobs.models import JobStatus, UpscaleJob
from jobs.permissions import spend_required
from jobs.views.pages import team_required


def _team_job(request: HttpRequest, public_id: str) -> UpscaleJob:
    return get_object_or_404(
        UpscaleJob.objects.select_related("account"), team=request.team, public_id=public_id
    )


@team_required
@spend_required
@require_POST
def cancel(request: HttpRequest, public_id: str) -> HttpResponse:
    job = _team_job(request, public_id)
    try:
        services.cancel_job(job, request.user)
    except services.CancelError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The job was canceled.")
    return redirect(job)


@team_required
@spend_required
@require_POST
def retry(request: HttpRequest, public_id: str) -> HttpResponse:
    job = _team_job(request, public_id)
    if job.status == JobStatus.UNKNOWN and request.POST.get("confirm") != "yes":
        # Retrying a job the provider may have received can pay twice: make it deliberate.
        messages.error(request, "First check the provider's dashboard, then confirm.")
        return redirect(job)
    try:
        new = services.retry_job(job, request.user)
    except services.SubmitError as exc:
        messages.error(request, exc.message)
        return redirect(job)
    messages.success(request, "A new job with the same settings was queued.")
    return redirect(new)
