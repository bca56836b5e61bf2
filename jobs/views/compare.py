"""Compare across providers: one image (or several) to several providers at once, and the
board that shows their results side by side until a team member picks the winner.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from jobs import comparisons, services, sharing
from jobs.forms import field_for, provider_label
from jobs.models import Batch, ResultImage, SourceImage
from jobs.providers.base import InputKind, OptionError, Provider
from jobs.providers.registry import PROVIDERS
from jobs.views.pages import sources_from_request, team_required

MAX_JOBS = 60  # images x providers in one comparison; past that, it is a batch, not a board
RECENT_BOARDS = 12
# Providers that can take an image from us; the others only upscale what they generated.
COMPARABLE = [
    slug
    for slug, cls in PROVIDERS.items()
    if {InputKind.UPLOAD, InputKind.PUBLIC_URL} & set(cls.input_kinds)
]


class ProviderOptionsForm(forms.Form):
    """One provider's options, built from its `Option` definitions, under the slug as prefix
    so several providers' options can share one page without clashing."""

    def __init__(
        self, *args: Any, provider_cls: type[Provider], accounts: dict[str, Any], **kwargs: Any
    ):
        super().__init__(*args, prefix=provider_cls.slug, **kwargs)
        self.provider_cls = provider_cls
        self.label = provider_label(provider_cls.slug, accounts)
        for option in provider_cls.options:
            self.fields[option.name] = field_for(option)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        raw = {o.name: data.get(o.name) for o in self.provider_cls.options}
        try:
            data["options"] = self.provider_cls.clean_options(raw)
        except OptionError as exc:
            self.add_error(exc.field if exc.field in self.fields else None, exc.message)
        return data


def _option_forms(request: HttpRequest) -> list[ProviderOptionsForm]:
    data = request.POST if request.method == "POST" else None
    accounts = services.accounts_by_provider(request.team)
    return [
        ProviderOptionsForm(data, provider_cls=PROVIDERS[slug], accounts=accounts)
        for slug in COMPARABLE
    ]


def _context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    recent = Batch.objects.filter(team=request.team, is_comparison=True).select_related(
        "created_by", "winner__job"
    )
    excluded = [cls.name for slug, cls in PROVIDERS.items() if slug not in COMPARABLE]
    return {
        "recent": recent.order_by("-created_at")[:RECENT_BOARDS],
        "excluded": excluded,
        **extra,
    }


# ----- the Compare page -----------------------------------------------------------------------
@team_required
def compare(request: HttpRequest) -> HttpResponse:
    forms_ = _option_forms(request)
    if request.method == "POST":
        return _submit(request, forms_)
    preset = SourceImage.objects.filter(team=request.team, pk=_int(request.GET.get("source")))
    context = _context(request, option_forms=forms_, chosen=[], sources=list(preset))
    return render(request, "compare/compare.html", context)


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


def _submit(request: HttpRequest, option_forms: list[ProviderOptionsForm]) -> HttpResponse:
    errors: list[str] = []
    sources = sources_from_request(request, errors)
    chosen = [f for f in option_forms if f.prefix in request.POST.getlist("providers")]
    errors += _choice_problems(chosen, sources)
    if errors or not all(f.is_valid() for f in chosen):
        return _refuse(request, option_forms, chosen, sources, errors)
    specs = [
        services.JobSpec(provider=f.prefix, options=f.cleaned_data["options"], source=source)
        for source in sources
        for f in chosen
    ]
    try:
        jobs = services.submit_jobs(request.team, request.user, specs, comparison=True)
    except services.SubmitError as exc:
        return _refuse(request, option_forms, chosen, sources, [*errors, exc.message])
    messages.success(request, f"Comparing {len(chosen)} providers on {len(sources)} image(s).")
    return redirect("jobs:compare_board", batch_id=jobs[0].batch_id)


def _choice_problems(chosen: list[ProviderOptionsForm], sources: list[SourceImage]) -> list[str]:
    problems = []
    if len(chosen) < 2:
        problems.append("Choose at least two providers to compare.")
    if not sources:
        problems.append("Choose at least one image to compare.")
    if len(chosen) * len(sources) > MAX_JOBS:
        problems.append(
            f"That would be {len(chosen) * len(sources)} jobs; a comparison is limited to "
            f"{MAX_JOBS}. Compare fewer images or providers at once."
        )
    return problems


def _refuse(
    request: HttpRequest,
    option_forms: list[ProviderOptionsForm],
    chosen: list[ProviderOptionsForm],
    sources: list[SourceImage],
    errors: list[str],
) -> HttpResponse:
    context = _context(
        request,
        option_forms=option_forms,
        chosen=[f.prefix for f in chosen],
        sources=sources,
        errors=errors,
    )
    return render(request, "compare/compare.html", context, status=400)


# ----- the board ------------------------------------------------------------------------------
def _team_board(request: HttpRequest, batch_id: int) -> Batch:
    batches = Batch.objects.select_related("winner", "winner__job", "winner_chosen_by")
    return get_object_or_404(batches, pk=batch_id, team=request.team, is_comparison=True)


@team_required
@vary_on_headers("HX-Request")
def board(request: HttpRequest, batch_id: int) -> HttpResponse:
    """The board; while jobs run, its live part re-renders every 2 s and stops (286) once
    every job is finished."""
    batch = _team_board(request, batch_id)
    data = comparisons.build_board(batch)
    context = {"batch": batch, "board": data}
    if request.htmx and request.htmx.target == "board-live":
        response = render(request, "compare/board.html#board-live", context)
        return HttpResponseStopPolling(response.content) if data.all_finished else response
    links = sharing.with_states(sharing.team_links(request.team).filter(batch=batch))
    context.update(links=links, expiry_choices=sharing.EXPIRY_CHOICES)
    return render(request, "compare/board.html", context)


@team_required
@require_POST
def verdict(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = _team_board(request, batch_id)
    winner_id = _int(request.POST.get("winner"))
    keep = request.POST.get("winner") is None and batch.winner_id  # "save note" keeps the pick
    winner = None
    if winner_id or keep:
        results = ResultImage.objects.select_related("job").filter(team=request.team)
        winner = get_object_or_404(results, pk=winner_id or batch.winner_id)
    try:
        comparisons.set_verdict(
            batch, request.user, winner=winner, note=request.POST.get("note", "")
        )
    except comparisons.VerdictError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Winner saved." if winner else "Verdict saved.")
    return redirect("jobs:compare_board", batch_id=batch.pk)
