"""Dashboard pages: upload, jobs (live), job detail, gallery, downloads.

Every query is scoped to `request.team`; an object of another team is a 404, never a 403,
so ids of other teams cannot even be probed.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseBase,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from jobs import dedupe, imaging, ledger, media, results, services, spend_report
from jobs.forms import SubmitForm
from jobs.models import (
    ACTIVE_STATUSES,
    JobStatus,
    ResultImage,
    SourceImage,
    UpscaleJob,
)
from jobs.permissions import spend_required, spend_required_for_post
from jobs.providers.registry import PROVIDERS, get_provider_class


def team_required(view: Any) -> Any:
    """Login required, and the user must belong to a team."""

    @login_required
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if request.team is None:
            return render(request, "jobs/no_team.html", status=403)
        return view(request, *args, **kwargs)

    wrapped.__name__ = view.__name__
    wrapped.__doc__ = view.__doc__
    return wrapped


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database is reachable."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@login_required
def home(request: HttpRequest) -> HttpResponse:
    return redirect("jobs:upload")


# ----- upload ---------------------------------------------------------------------------
@team_required
@spend_required_for_post
@vary_on_headers("HX-Request")
def upload(request: HttpRequest) -> HttpResponse:
    provider = request.GET.get("provider")
    if request.method == "POST":
        return _submit_upload(request)
    form = SubmitForm(team=request.team, provider=provider)
    if request.htmx and request.htmx.target == "provider-options":
        return render(request, "jobs/upload.html#provider-options", {"form": form})
    return render(request, "jobs/upload.html", _upload_context(request, form))


def _upload_context(request: HttpRequest, form: SubmitForm, **extra: Any) -> dict[str, Any]:
    providers = [
        {"slug": slug, "name": cls.name, "summary": cls.summary, "kinds": list(cls.input_kinds)}
        for slug, cls in PROVIDERS.items()
    ]
    return {"form": form, "providers": providers, **extra}


def _submit_upload(request: HttpRequest) -> HttpResponse:
    form = SubmitForm(request.POST, team=request.team)
    file_errors: list[str] = []
    sources = sources_from_request(request, file_errors)
    if not form.is_valid():
        context = _upload_context(request, form, file_errors=file_errors)
        return render(request, "jobs/upload.html", context, status=400)
    specs = _specs(form, sources)
    if not specs:
        file_errors = file_errors or ["Choose at least one image to upscale."]
        context = _upload_context(request, form, file_errors=file_errors)
        return render(request, "jobs/upload.html", context, status=400)
    # Don't pay twice: identical work already done in the team is offered first.
    from jobs.views import gallery as reuse

    check = dedupe.check(request.team, specs, request.POST.get("duplicates", ""))
    if check.needs_confirmation:
        return reuse.confirm_duplicates(request, check)
    if not check.to_submit:
        return reuse.reused_only(request, check)
    specs = check.to_submit
    reuse.note_reused(request, check)
    try:
        jobs = services.submit_jobs(request.team, request.user, specs)
    except services.SubmitError as exc:
        context = _upload_context(request, form, file_errors=[*file_errors, exc.message])
        return render(request, "jobs/upload.html", context, status=400)
    for error in file_errors:
        messages.warning(request, error)
    messages.success(request, f"{len(jobs)} job(s) queued.")
    return redirect(f"{_url('jobs:job_list')}?batch={jobs[0].batch_id}")


def _url(name: str) -> str:
    from django.urls import reverse

    return reverse(name)


def _specs(form: SubmitForm, sources: list[SourceImage]) -> list[services.JobSpec]:
    provider, options = form.cleaned_data["provider"], form.cleaned_data["options"]
    reference = form.cleaned_data.get("reference")
    if reference and form.takes_reference:
        return [services.JobSpec(provider=provider, options=options, reference=reference)]
    return [services.JobSpec(provider=provider, options=options, source=s) for s in sources]


def sources_from_request(request: HttpRequest, errors: list[str]) -> list[SourceImage]:
    """Sources already uploaded by the page's script, plus any files posted with the form."""
    ids = [int(i) for i in request.POST.getlist("source_ids") if i.isdigit()]
    sources = list(SourceImage.objects.filter(team=request.team, pk__in=ids))
    for upload_file in request.FILES.getlist("files"):
        try:
            sources.append(
                services.ingest_upload(request.team, request.user, upload_file, upload_file.name)
            )
        except imaging.ImageRejected as exc:
            errors.append(f"{upload_file.name}: {exc}")
    return sources


@team_required
@spend_required
@require_POST
def upload_source(request: HttpRequest) -> JsonResponse:
    """One file uploaded by the page's script (so each file gets its own progress bar)."""
    upload_file = request.FILES.get("file")
    if upload_file is None:
        return JsonResponse({"error": "No file was sent."}, status=400)
    try:
        source = services.ingest_upload(request.team, request.user, upload_file, upload_file.name)
    except imaging.ImageRejected as exc:
        return JsonResponse({"name": upload_file.name, "error": str(exc)}, status=400)
    return JsonResponse(
        {
            "id": source.pk,
            "name": source.original_name,
            "width": source.width,
            "height": source.height,
            "format": source.format,
        },
        status=201,
    )


# ----- jobs -----------------------------------------------------------------------------
def _team_jobs(request: HttpRequest) -> QuerySet[UpscaleJob]:
    return UpscaleJob.objects.filter(team=request.team).select_related(
        "source", "created_by", "account"
    )


@team_required
@vary_on_headers("HX-Request")
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = _team_jobs(request)
    batch = request.GET.get("batch", "")
    if batch.isdigit():
        jobs = jobs.filter(batch_id=int(batch))
    status = request.GET.get("status", "")
    if status in JobStatus.values:
        jobs = jobs.filter(status=status)
    jobs = spend_report.filter_jobs(jobs, request.GET, request.team)  # drill-down from Spend
    page = Paginator(jobs.prefetch_related("results"), 50).get_page(request.GET.get("page"))
    context = {"page": page, "batch": batch, "status": status, "statuses": JobStatus.choices}
    return render(request, "jobs/job_list.html", context)


@team_required
@require_GET
def job_row(request: HttpRequest, public_id: str) -> HttpResponse:
    """One live row of the jobs table; polling stops (286) once the job is finished."""
    job = get_object_or_404(_team_jobs(request).prefetch_related("results"), public_id=public_id)
    if not request.htmx:
        return redirect(job)
    response = render(request, "jobs/job_list.html#job-row", {"job": job})
    if job.is_finished:
        stop = HttpResponseStopPolling(response.content)
        return stop
    return response


@team_required
@vary_on_headers("HX-Request")
def job_detail(request: HttpRequest, public_id: str) -> HttpResponse:
    job = get_object_or_404(_team_jobs(request), public_id=public_id)
    context = {
        "job": job,
        "provider_name": _provider_name(job.provider),
        "events": job.events.all(),
        "results": job.results.all(),
        "spend": ledger.job_spend(job),
        "active": job.status in ACTIVE_STATUSES,
    }
    if request.htmx and request.htmx.target == "job-live":
        response = render(request, "jobs/job_detail.html#job-live", context)
        return HttpResponseStopPolling(response.content) if job.is_finished else response
    return render(request, "jobs/job_detail.html", context)


def _provider_name(slug: str) -> str:
    try:
        return get_provider_class(slug).name
    except LookupError:
        return slug


# ----- files ------------------------------------------------------------------------------
def _file_response(field: Any, *, filename: str, attachment: bool, content_type: str) -> Any:
    if not field:
        raise Http404("No file.")
    if media.is_remote(field.storage):
        # Object storage: hand out a short-lived signed URL instead of streaming through us.
        return HttpResponseRedirect(
            media.signed_url(field, filename=filename, attachment=attachment, type=content_type)
        )
    response = FileResponse(
        field.open("rb"), as_attachment=attachment, filename=filename, content_type=content_type
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, max-age=3600"
    return response


@team_required
def result_file(request: HttpRequest, pk: int) -> FileResponse:
    result = get_object_or_404(ResultImage.objects.select_related("job"), pk=pk, team=request.team)
    attachment = request.GET.get("download") == "1"
    return _file_response(
        result.file,
        filename=download_name(result),
        attachment=attachment,
        content_type=imaging.content_type_for(result.format),
    )


@team_required
def result_thumb(request: HttpRequest, pk: int) -> FileResponse:
    result = get_object_or_404(ResultImage, pk=pk, team=request.team)
    return _file_response(
        result.thumbnail, filename="thumb.webp", attachment=False, content_type="image/webp"
    )


@team_required
def source_file(request: HttpRequest, pk: int) -> FileResponse:
    source = get_object_or_404(SourceImage, pk=pk, team=request.team)
    return _file_response(
        source.file,
        filename=source.original_name,
        attachment=False,
        content_type=source.content_type,
    )


def download_name(result: ResultImage) -> str:
    """A meaningful file name: source name, provider, and scale or size."""
    job = result.job
    stem = "image"
    if job.source is not None:
        stem = job.source.original_name.rsplit(".", 1)[0][:80] or stem
    ext = imaging.EXTENSIONS.get(result.format, "bin")
    suffix = f"-{result.index + 1}" if result.index else ""
    return f"{stem}-{job.provider}-{result.width}x{result.height}{suffix}.{ext}"


def public_source(request: HttpRequest, token: str) -> FileResponse:
    """The signed, expiring URL handed to providers that fetch the source themselves."""
    source = results.source_from_token(token)
    if source is None:
        raise Http404("This link has expired.")
    return _file_response(
        source.file, filename="source", attachment=False, content_type=source.content_type
    )


@csrf_exempt
@require_POST
def webhook(request: HttpRequest, provider: str, token: str) -> HttpResponse:
    """A provider says a job changed. Unsigned, so it is only a hint to poll the job now."""
    job = UpscaleJob.objects.filter(
        provider=provider, webhook_token=token, status=JobStatus.WAITING
    ).first()
    if job is not None:
        UpscaleJob.objects.filter(pk=job.pk, status=JobStatus.WAITING).update(
            next_action_at=timezone.now()
        )
    return HttpResponse(status=204)
