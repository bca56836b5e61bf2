"""REST API v1 endpoints. Thin: parse, call a service, serialize.

Every query is scoped to the token's team; another team's job is a 404, so ids of other
teams cannot be probed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, time
from typing import Any
from urllib.parse import urlencode

from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from django.views.decorators.csrf import csrf_exempt

from jobs import imaging, permissions, services
from jobs.api import serialize, submit, totals
from jobs.api.auth import api_view, authenticate, check_rate
from jobs.api.errors import ApiError, invalid, not_found
from jobs.models import JobStatus, ResultImage, UpscaleJob
from jobs.providers.registry import PROVIDERS
from jobs.tokens import TokenAuth

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 100


def _team_jobs(auth: TokenAuth) -> QuerySet[UpscaleJob]:
    return (
        UpscaleJob.objects.filter(team=auth.team)
        .select_related("source", "batch")
        .prefetch_related("results", "ledger")
    )


def _job(auth: TokenAuth, public_id: Any) -> UpscaleJob:
    found = _team_jobs(auth).filter(public_id=public_id).first()
    if found is None:
        raise not_found()
    return found


# ----- jobs -------------------------------------------------------------------------------
@api_view(["GET", "POST"])
def jobs(request: HttpRequest, auth: TokenAuth) -> HttpResponse:
    if request.method == "POST":
        return _create_jobs(request, auth)
    return _list_jobs(request, auth)


def _create_jobs(request: HttpRequest, auth: TokenAuth) -> HttpResponse:
    if not permissions.can_spend(auth.membership):
        raise ApiError(403, "forbidden", permissions.VIEWER_CANNOT_SPEND)
    submission = submit.parse(request, auth)
    try:
        created = services.submit_jobs(
            auth.team, auth.user, submission.specs, comparison=submission.comparison
        )
    except services.BudgetExceeded as refusal:
        raise _budget_error(refusal) from None
    except services.SubmitError as exc:
        raise ApiError(400, "invalid_request", exc.message, details={"field": exc.field}) from None
    return JsonResponse(_created_body(request, auth, created), status=201)


def _budget_error(refusal: services.BudgetExceeded) -> ApiError:
    return ApiError(
        402,
        "budget_exceeded",
        refusal.message,
        details={
            "budget": refusal.budget,
            "remaining": serialize.money(refusal.remaining_micros),
            "needed": serialize.money(refusal.needed_micros),
        },
    )


def _created_body(request: HttpRequest, auth: TokenAuth, created: list) -> dict[str, Any]:
    fresh = list(_team_jobs(auth).filter(pk__in=[job.pk for job in created]).order_by("id"))
    data = [serialize.job_data(job, request) for job in fresh]
    held = sum(item["estimate"]["usd_micros"] for item in data)
    providers = sorted({job.provider for job in fresh})
    return {
        "batch": data[0]["batch"],
        "jobs": data,
        "estimate": serialize.money(held),
        "budgets": totals.budget_effect(auth.team, auth.user, providers),
    }


def _list_jobs(request: HttpRequest, auth: TokenAuth) -> HttpResponse:
    found = _filtered(_team_jobs(auth), request.GET)
    page, size = _page_params(request.GET)
    count = found.count()
    pages = max(1, math.ceil(count / size))
    items = found[(page - 1) * size : page * size]
    return JsonResponse(
        {
            "jobs": [serialize.job_data(job, request) for job in items],
            "count": count,
            "page": page,
            "page_size": size,
            "pages": pages,
            "next": _page_url(request, page + 1) if page < pages else None,
            "previous": _page_url(request, page - 1) if 1 < page <= pages else None,
        }
    )


def _filtered(found: QuerySet[UpscaleJob], params: Any) -> QuerySet[UpscaleJob]:
    status = params.get("status")
    if status:
        if status not in JobStatus.values:
            raise invalid(f"`status` must be one of {', '.join(JobStatus.values)}.", "status")
        found = found.filter(status=status)
    provider = params.get("provider")
    if provider:
        if provider not in PROVIDERS:
            raise invalid(f"`provider` must be one of {', '.join(PROVIDERS)}.", "provider")
        found = found.filter(provider=provider)
    if params.get("since"):
        found = found.filter(created_at__gte=_since(params["since"]))
    return found


def _since(text: str) -> datetime:
    """An ISO 8601 time (a bare date means its midnight, UTC unless an offset is given)."""
    try:
        moment = parse_datetime(text)
        day = None if moment else parse_date(text)
    except ValueError:
        moment = day = None
    if day is not None:
        moment = datetime.combine(day, time.min)
    if moment is None:
        raise invalid(
            "`since` must be an ISO 8601 date or time, e.g. 2025-01-31T12:00:00Z.", "since"
        )
    return moment if timezone.is_aware(moment) else timezone.make_aware(moment, UTC)


def _page_params(params: Any) -> tuple[int, int]:
    page = _positive_int(params.get("page"), "page", 1)
    size = _positive_int(params.get("page_size"), "page_size", DEFAULT_PAGE_SIZE)
    if size > MAX_PAGE_SIZE:
        raise invalid(f"`page_size` can be at most {MAX_PAGE_SIZE}.", "page_size")
    return page, size


def _positive_int(text: str | None, field: str, default: int) -> int:
    if text in (None, ""):
        return default
    if not text.isdigit() or int(text) < 1 or len(text) > 9:
        raise invalid(f"`{field}` must be a whole number from 1.", field)
    return int(text)


def _page_url(request: HttpRequest, page: int) -> str:
    params = request.GET.copy()
    params["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{urlencode(sorted(params.items()))}")


@api_view(["GET"])
def job(request: HttpRequest, auth: TokenAuth, public_id: Any) -> HttpResponse:
    return JsonResponse(serialize.job_data(_job(auth, public_id), request))


@api_view(["POST"], spends=True)
def cancel(request: HttpRequest, auth: TokenAuth, public_id: Any) -> HttpResponse:
    found = _job(auth, public_id)
    try:
        services.cancel_job(found, auth.user)
    except services.CancelError as exc:
        raise ApiError(409, "cannot_cancel", exc.message) from None
    return JsonResponse(serialize.job_data(_job(auth, public_id), request))


# ----- result files -----------------------------------------------------------------------
@csrf_exempt
def result_file(request: HttpRequest, public_id: Any, index: int) -> HttpResponse:
    """A result's bytes, with the token or with the signed URL from the job's JSON."""
    try:
        if request.method != "GET":
            raise ApiError(405, "method_not_allowed", "Use GET here.", headers={"Allow": "GET"})
        item = _downloadable(request, str(public_id), index)
    except ApiError as error:
        return error.response()
    response = FileResponse(
        item.file.open("rb"),
        as_attachment=True,
        filename=_download_name(item),
        content_type=imaging.content_type_for(item.format),
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response


def _downloadable(request: HttpRequest, public_id: str, index: int) -> ResultImage:
    signature = request.GET.get("signature")
    if signature and "Authorization" not in request.headers:
        if not serialize.signature_allows(signature, public_id, index):
            raise ApiError(
                401,
                "invalid_signature",
                "This download link has expired or is not valid. Fetch the job again for a "
                "fresh link, or send your token.",
            )
        found = ResultImage.objects.filter(job__public_id=public_id, index=index)
    else:
        auth = authenticate(request)
        check_rate(auth)
        found = ResultImage.objects.filter(team=auth.team, job__public_id=public_id, index=index)
    item = found.select_related("job", "job__source").exclude(file="").first()
    if item is None:
        raise not_found("result")
    return item


def _download_name(item: ResultImage) -> str:
    from jobs.views.pages import download_name

    return download_name(item)


# ----- providers and spend -----------------------------------------------------------
@api_view(["GET"])
def providers(request: HttpRequest, auth: TokenAuth) -> HttpResponse:
    return JsonResponse({"providers": serialize.providers(auth.team)})


@api_view(["GET"])
def spend(request: HttpRequest, auth: TokenAuth) -> HttpResponse:
    chosen = totals.period(auth.team, request.GET.get("from"), request.GET.get("to"))
    return JsonResponse(totals.spend_totals(auth.team, chosen))
