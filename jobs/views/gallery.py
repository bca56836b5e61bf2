"""The gallery (every job of the team as a tile), a result's before/after page, and the
"you already paid for this" confirmation shown by the upload page.

Pagination is keyset ("older than this tile"), never OFFSET and never COUNT(*): page 500
costs what page 1 costs, whatever the number of results.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from jobs import comparisons, dedupe, ledger, sharing
from jobs.models import JobStatus, ResultImage, Team, UpscaleJob
from jobs.providers.registry import provider_choices
from jobs.views.pages import team_required

PAGE_SIZE = 48


# ----- filters --------------------------------------------------------------------------
class GalleryFilters(forms.Form):
    provider = forms.ChoiceField(required=False)
    user = forms.TypedChoiceField(required=False, coerce=int, empty_value=None)
    since = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        required=False, label="To", widget=forms.DateInput(attrs={"type": "date"})
    )
    status = forms.ChoiceField(required=False)
    batch = forms.IntegerField(required=False, min_value=1, widget=forms.NumberInput())

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [("", "All providers"), *provider_choices()]
        self.fields["status"].choices = [("", "All statuses"), *JobStatus.choices]
        members = get_user_model().objects.filter(memberships__team=team).order_by("username")
        self.fields["user"].choices = [("", "Everyone")] + [
            (m.pk, m.get_username()) for m in members
        ]

    def values(self) -> dict[str, Any]:
        """The filters that are valid; a bad one is shown as an error and ignored."""
        self.is_valid()
        return {k: v for k, v in self.cleaned_data.items() if v not in (None, "")}


def team_zone(team: Team) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(team.time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def day_start(day: date, zone: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def filtered_jobs(team: Team, values: dict[str, Any]) -> QuerySet[UpscaleJob]:
    jobs = UpscaleJob.objects.filter(team=team)
    simple = {"provider": "provider", "user": "created_by_id", "status": "status"}
    for key, column in simple.items():
        if key in values:
            jobs = jobs.filter(**{column: values[key]})
    if "batch" in values:
        jobs = jobs.filter(batch_id=values["batch"])
    zone = team_zone(team)
    if "since" in values:
        jobs = jobs.filter(created_at__gte=day_start(values["since"], zone))
    if "until" in values:  # the whole "to" day counts
        jobs = jobs.filter(created_at__lt=day_start(values["until"] + timedelta(days=1), zone))
    return jobs


# ----- keyset pagination ----------------------------------------------------------------------
@dataclass(frozen=True)
class Cursor:
    """A tile's place in the newest-first order: (created_at, id), as text for URLs."""

    created_at: datetime
    pk: int

    def __str__(self) -> str:
        micros = int(self.created_at.timestamp() * 1_000_000)
        return f"{micros}-{self.pk}"

    @classmethod
    def parse(cls, text: str | None) -> Cursor | None:
        try:
            micros, pk = (int(part) for part in (text or "").split("-"))
            when = datetime.fromtimestamp(micros / 1_000_000, tz=UTC)
        except (ValueError, OverflowError, OSError):
            return None
        return cls(when, pk)

    @classmethod
    def of(cls, job: UpscaleJob) -> Cursor:
        return cls(job.created_at, job.pk)


@dataclass
class KeysetPage:
    items: list[UpscaleJob]
    newer: Cursor | None  # pass as ?before= to go one page newer
    older: Cursor | None  # pass as ?after= to go one page older
    is_first: bool


# Newest first; ties on created_at broken by *ascending* id. That order is exactly the
# (team, -created_at) index read forwards (SQLite keeps the rowid ascending inside an index
# entry), so the database walks it from the cursor with no sort. With "-id" instead, the
# global created_at index read backwards matches better and SQLite scans every team's rows.
NEWEST_FIRST = ("-created_at", "id")
OLDEST_FIRST = ("created_at", "-id")


def keyset_page(
    jobs: QuerySet[UpscaleJob], *, after: Cursor | None, before: Cursor | None
) -> KeysetPage:
    """One page, newest first. `after` walks to older tiles, `before` back to newer ones.

    A range on created_at plus an exclusion for ties, rather than an OR, so the database
    can start walking the index at the cursor.
    """
    if before is not None:
        newer_side = jobs.filter(created_at__gte=before.created_at).exclude(
            created_at=before.created_at, id__gte=before.pk
        )
        rows = list(newer_side.order_by(*OLDEST_FIRST)[: PAGE_SIZE + 1])
        has_newer = len(rows) > PAGE_SIZE
        items = rows[:PAGE_SIZE][::-1]
        return _page(items, has_newer=has_newer, has_older=True)
    if after is not None:
        jobs = jobs.filter(created_at__lte=after.created_at).exclude(
            created_at=after.created_at, id__lte=after.pk
        )
    rows = list(jobs.order_by(*NEWEST_FIRST)[: PAGE_SIZE + 1])
    return _page(rows[:PAGE_SIZE], has_newer=after is not None, has_older=len(rows) > PAGE_SIZE)


def _page(items: list[UpscaleJob], *, has_newer: bool, has_older: bool) -> KeysetPage:
    newer = Cursor.of(items[0]) if items and has_newer else None
    older = Cursor.of(items[-1]) if items and has_older else None
    return KeysetPage(items=items, newer=newer, older=older, is_first=not has_newer)


def _usable_results() -> Prefetch:
    usable = ResultImage.objects.filter(is_safe=True).exclude(file="").order_by("index")
    return Prefetch("results", queryset=usable, to_attr="usable_results")


# ----- pages -------------------------------------------------------------------------------
@team_required
def gallery(request: HttpRequest) -> HttpResponse:
    filters = GalleryFilters(request.GET or None, team=request.team)
    values = filters.values() if request.GET else {}
    jobs = filtered_jobs(request.team, values).select_related("source", "created_by")
    page = keyset_page(
        jobs.prefetch_related(_usable_results()),
        after=Cursor.parse(request.GET.get("after")),
        before=Cursor.parse(request.GET.get("before")),
    )
    context = {"filters": filters, "page": page, "filtered": bool(values)}
    return render(request, "gallery/gallery.html", context)


@team_required
def result_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One result: before/after slider, synced 100% zoom, facts, download and sharing."""
    result = get_object_or_404(
        ResultImage.objects.select_related("job", "job__source", "job__created_by", "job__batch"),
        pk=pk,
        team=request.team,
        is_safe=True,
    )
    job = result.job
    context = {
        "result": result,
        "job": job,
        "source": job.source,
        "siblings": job.results.filter(is_safe=True).exclude(file="").exclude(pk=result.pk),
        "settings": comparisons.describe_options(job.provider, job.options),
        "provider_name": comparisons.provider_name(job.provider),
        "spend": ledger.job_spend(job),
        "links": sharing.with_states(sharing.team_links(request.team).filter(result=result)),
        "expiry_choices": sharing.EXPIRY_CHOICES,
    }
    return render(request, "gallery/result.html", context)


# ----- don't pay twice (used by the upload page before it submits) -----------------------------
def confirm_duplicates(request: HttpRequest, check: dedupe.DuplicateCheck) -> HttpResponse:
    """Ask before paying again for work the team already has, listing who, when and cost.

    The form re-posts exactly what was submitted (uploads are already stored, so by id).
    """
    carried = [
        (name, value)
        for name in request.POST
        if name not in ("csrfmiddlewaretoken", "duplicates", "source_ids")
        for value in request.POST.getlist(name)
    ]
    source_ids = sorted({spec.source.pk for spec, _ in _all_specs(check) if spec.source})
    context = {
        "check": check,
        "carried": carried,
        "source_ids": source_ids,
        "new_count": len(check.to_submit),
    }
    return render(request, "gallery/duplicates.html", context, status=409)


def _all_specs(check: dedupe.DuplicateCheck) -> list[tuple[Any, Any]]:
    return [*check.matches, *((spec, None) for spec in check.to_submit)]


def reused_only(request: HttpRequest, check: dedupe.DuplicateCheck) -> HttpResponse:
    """Everything asked for already exists: show it instead of paying again."""
    reused = check.reused
    if len(reused) == 1 and reused[0].result is not None:
        messages.success(request, "Reused the existing result; nothing was charged.")
        return redirect("jobs:result_detail", pk=reused[0].result.pk)
    context = {"check": check, "reused_view": True}
    return render(request, "gallery/duplicates.html", context)


def note_reused(request: HttpRequest, check: dedupe.DuplicateCheck) -> None:
    if check.matches:
        count = len(check.matches)
        messages.info(request, f"Reused {count} existing result(s) instead of paying again.")
