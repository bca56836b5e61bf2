"""Spend pages: the dashboard, CSV export, the live estimate, budgets and price tables.

Everyone in the team sees spend and budgets; only owners and admins change budgets and
prices or settle anomalies. Every query is scoped to `request.team`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from jobs import audit, ledger, permissions, services, spend, spend_report
from jobs.models import BudgetScope, JobStatus, SourceImage, UpscaleJob
from jobs.providers.base import InputKind, OptionError
from jobs.providers.registry import PROVIDERS, provider_choices
from jobs.views import spend_chart
from jobs.views.pages import team_required


def _can_manage(request: HttpRequest) -> bool:
    return permissions.can_manage(getattr(request, "membership", None))


# ----- dashboard ----------------------------------------------------------------------------
@team_required
@require_GET
@vary_on_headers("HX-Request")
def dashboard(request: HttpRequest) -> HttpResponse:
    period = _period(request)
    report = spend_report.report(request.team, period)
    context = {
        "report": report,
        "period": period,
        "chart": spend_chart.build(report.by_day, period),
        "presets": spend_report.PRESETS,
        "preset": request.GET.get("preset", ""),
        "range": f"from={period.start:%Y-%m-%d}&to={period.end:%Y-%m-%d}",
        "can_manage": _can_manage(request),
    }
    if request.htmx:
        return render(request, "spend/dashboard.html#spend-body", context)
    return render(request, "spend/dashboard.html", context)


def _period(request: HttpRequest) -> spend_report.Period:
    """The period asked for; this month, with a message, when the dates are unusable."""
    params = request.GET
    try:
        return spend_report.period_for(
            request.team, params.get("preset", ""), params.get("from", ""), params.get("to", "")
        )
    except ValueError as exc:
        messages.error(request, f"{exc} Showing this month instead.")
        return spend_report.period_for(request.team)


@team_required
@require_GET
def export(request: HttpRequest) -> StreamingHttpResponse:
    """The period's ledger as CSV, streamed so a year of entries never sits in memory."""
    period = _period(request)
    rows = spend_report.ledger_rows(request.team, period)
    response = StreamingHttpResponse(_csv_lines(rows), content_type="text/csv; charset=utf-8")
    name = f"ledger-{request.team.slug}-{period.start:%Y%m%d}-{period.end:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


class _Echo:
    """A file-like object whose write returns the line, for csv.writer in a stream."""

    def write(self, value: str) -> str:
        return value


def _csv_lines(rows: Iterator[list[str]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(spend_report.CSV_HEADER)
    for row in rows:
        yield writer.writerow([_safe_cell(cell) for cell in row])


def _safe_cell(value: str) -> str:
    # A note starting with "=" would run as a formula in a spreadsheet (CSV injection).
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") and not _is_number(value) else value


def _is_number(value: str) -> bool:
    try:
        Decimal(value)
    except ArithmeticError:
        return False
    return True


# ----- estimate -----------------------------------------------------------------------------
@team_required
@require_GET
@vary_on_headers("HX-Request")
def estimate(request: HttpRequest) -> HttpResponse:
    """The upload form's live cost: images x providers x options, and the budgets after."""
    images = _image_count(request)
    context: dict[str, Any] = {"estimate": None, "problem": "", "images": images}
    try:
        planned = _planned_jobs(request, images)
    except OptionError as exc:
        context["problem"] = f"Fix the options to see the cost: {exc.field} {exc.message}"
    else:
        context["estimate"] = spend.estimate(request.team, request.user, planned)
    template = "spend/estimate.html#estimate" if request.htmx else "spend/estimate.html"
    return render(request, template, context)


def _planned_jobs(request: HttpRequest, images: int) -> list[spend.PlannedJob]:
    """What the form would submit, read from the field names it posts.

    `provider` is the upload form's; `providers` (several) is a comparison's.
    """
    asked = request.GET.getlist("provider") + request.GET.getlist("providers")
    slugs = [slug for slug in asked if slug in PROVIDERS] or ["local"]
    planned = []
    for slug in dict.fromkeys(slugs):
        cls = PROVIDERS[slug]
        # Only this provider's options: a swap of the option fields may still be under way.
        # An unchecked box is absent, which cleans to the option's default (off).
        raw = {o.name: request.GET.get(f"opt_{o.name}") for o in cls.options}
        account = services.account_for(request.team, slug) if cls.needs_network else None
        count = _jobs_for(cls, images, request)
        options = cls.clean_options(raw)
        planned.append(spend.PlannedJob(slug, options, account.pk if account else None, count))
    return planned


def _image_count(request: HttpRequest) -> int:
    ids = {int(i) for i in request.GET.getlist("source_ids") if i.isdigit()}
    if not ids:
        return 0
    return SourceImage.objects.filter(team=request.team, pk__in=ids).count()


def _jobs_for(cls: Any, images: int, request: HttpRequest) -> int:
    """One job per image; a reference-only provider runs one job on its reference."""
    if {InputKind.UPLOAD, InputKind.PUBLIC_URL} & set(cls.input_kinds) and images:
        return images
    if InputKind.REFERENCE in cls.input_kinds:
        given = any(request.GET.get(f"ref_{f.name}") for f in cls.reference_fields)
        return 1 if given else 0
    return 0


# ----- budgets ------------------------------------------------------------------------------
class BudgetForm(forms.Form):
    scope = forms.ChoiceField(choices=BudgetScope.choices, initial=BudgetScope.TEAM)
    provider = forms.ChoiceField(required=False)
    user = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, label="Person")
    limit = forms.DecimalField(
        label="Monthly limit (USD)", min_value=Decimal("0.01"), max_digits=12, decimal_places=2
    )
    warn_percent = forms.IntegerField(
        label="Warn at (% of the limit)", min_value=1, max_value=100, initial=80
    )

    def __init__(self, *args: Any, team: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["provider"].choices = [("", "—"), *provider_choices()]
        members = team.memberships.select_related("user").order_by("user__username")
        self.fields["user"].choices = [("", "—")] + [
            (m.user_id, m.user.get_username()) for m in members
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("scope") == BudgetScope.PROVIDER and not data.get("provider"):
            self.add_error("provider", "Choose the provider this budget is for.")
        if data.get("scope") == BudgetScope.USER and not data.get("user"):
            self.add_error("user", "Choose the person this budget is for.")
        return data


@team_required
@vary_on_headers("HX-Request")
def budgets(request: HttpRequest) -> HttpResponse:
    form = BudgetForm(request.POST or None, team=request.team)
    if request.method == "POST":
        if not _can_manage(request):
            return permissions.forbidden(request, permissions.MANAGERS_ONLY)
        if form.is_valid():
            return _save_budget(request, form.cleaned_data)
    context = {
        "standings": spend.standings(request.team),
        "form": form,
        "can_manage": _can_manage(request),
        "month": timezone.now().astimezone(spend.team_zone(request.team)),
    }
    status = 400 if form.errors else 200
    return render(request, "spend/budgets.html", context, status=status)


def _save_budget(request: HttpRequest, data: dict[str, Any]) -> HttpResponse:
    limit = int(data["limit"] * spend.MICROS)
    budget = spend.save_budget(
        request.team,
        scope=data["scope"],
        provider=data.get("provider") or "",
        user_id=data.get("user"),
        limit_micros=limit,
        warn_percent=data["warn_percent"],
    )
    label = spend.budget_label(budget)
    audit.record(request.team, request.user, "budget.saved", label, limit_usd=str(data["limit"]))
    messages.success(request, f"{label} saved: {data['limit']:.2f} USD a month.")
    return redirect("jobs:spend_budgets")


@team_required
@require_POST
def budget_remove(request: HttpRequest, pk: int) -> HttpResponse:
    if not _can_manage(request):
        return permissions.forbidden(request, permissions.MANAGERS_ONLY)
    budget = spend.remove_budget(request.team, pk)
    if budget is None:
        return HttpResponse("No such budget.", status=404)
    label = spend.budget_label(budget)
    audit.record(request.team, request.user, "budget.removed", label)
    messages.success(request, f"{label} removed.")
    return redirect("jobs:spend_budgets")


# ----- price tables -------------------------------------------------------------------------
class PriceForm(forms.Form):
    """New prices for one account, in force from a date: old rows are kept."""

    usd_per_credit = forms.DecimalField(
        label="USD per credit", min_value=Decimal(0), max_digits=24, decimal_places=12
    )
    valid_from = forms.DateTimeField(
        required=False,
        label="In force from (team time; empty: now)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )

    def __init__(self, *args: Any, table: spend.PriceTable, zone: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.table = table
        self.zone = zone
        self.fields["usd_per_credit"].initial = spend.dollars_text(table.usd_micros_per_credit)
        for key, price in table.current.items():
            self.fields[f"credits_{key}"] = forms.DecimalField(
                label=f"{key}: {table.provider.credit_unit} per job",
                min_value=Decimal(0),
                max_digits=20,
                decimal_places=4,
                initial=price.credits.normalize(),
            )

    def clean_valid_from(self) -> Any:
        """The clock time typed, read in the team's time zone (the form assumed UTC)."""
        value = self.cleaned_data.get("valid_from")
        return value.replace(tzinfo=None).replace(tzinfo=self.zone) if value else None

    def key_fields(self) -> list[Any]:
        return [self[name] for name in self.fields if name.startswith("credits_")]


@team_required
def prices(request: HttpRequest) -> HttpResponse:
    tables = spend.price_tables(request.team)
    forms_by_account = {table.account.pk: _price_form(request, table) for table in tables}
    if request.method == "POST":
        answer = _post_prices(request, tables, forms_by_account)
        if answer is not None:
            return answer
    rows = [(table, forms_by_account[table.account.pk]) for table in tables]
    context = {"rows": rows, "can_manage": _can_manage(request)}
    status = 400 if any(form.errors for form in forms_by_account.values()) else 200
    return render(request, "spend/prices.html", context, status=status)


def _price_form(request: HttpRequest, table: spend.PriceTable, data: Any = None) -> PriceForm:
    return PriceForm(data, table=table, zone=spend.team_zone(request.team))


def _post_prices(
    request: HttpRequest, tables: list[spend.PriceTable], forms_by_account: dict[int, PriceForm]
) -> HttpResponse | None:
    """Save new prices for one account; None to show the page again with the form's errors."""
    if not _can_manage(request):
        return permissions.forbidden(request, permissions.MANAGERS_ONLY)
    chosen = str(request.POST.get("account", ""))
    table = next((t for t in tables if str(t.account.pk) == chosen), None)
    if table is None:
        return HttpResponse("No such provider account.", status=404)
    form = _price_form(request, table, request.POST)
    if form.is_valid():
        return _save_prices(request, table, form.cleaned_data)
    forms_by_account[table.account.pk] = form
    return None


def _save_prices(request: HttpRequest, table: spend.PriceTable, data: dict) -> HttpResponse:
    rate = (data["usd_per_credit"] * spend.MICROS).quantize(Decimal("0.000001"))
    credits = {key: data[f"credits_{key}"] for key in table.current}
    valid_from = data.get("valid_from") or timezone.now()
    spend.set_prices(table.account, request.user, credits, rate, valid_from)
    audit.record(
        request.team,
        request.user,
        "prices.changed",
        str(table.account),
        usd_per_credit=str(data["usd_per_credit"]),
        valid_from=valid_from.isoformat(),
    )
    messages.success(
        request, f"New prices for {table.account} saved. Past spend keeps the prices it had."
    )
    return redirect("jobs:spend_prices")


# ----- anomalies ----------------------------------------------------------------------------
SETTLE_ACTIONS = {"charged", "not-charged", "refunded"}


@team_required
@require_POST
def settle_job(request: HttpRequest, public_id: str) -> HttpResponse:
    """Settle an anomaly after checking with the provider: charged, not charged, refunded."""
    if not _can_manage(request):
        return permissions.forbidden(request, permissions.MANAGERS_ONLY)
    job = get_object_or_404(UpscaleJob, team=request.team, public_id=public_id)
    action = request.POST.get("action", "")
    if action not in SETTLE_ACTIONS:
        return HttpResponse("Unknown action.", status=400)
    if action == "refunded":
        done = ledger.record_refund(job, user=request.user)
    else:
        done = ledger.resolve_unknown(job, charged=action == "charged", user=request.user)
    if done:
        audit.record(request.team, request.user, f"spend.{action}", str(job.public_id))
        messages.success(request, f"Recorded for job {str(job.public_id)[:8]}.")
    else:
        messages.warning(request, _not_settled_text(job))
    return redirect(_safe_next(request) or reverse("jobs:spend_dashboard"))


def _safe_next(request: HttpRequest) -> str:
    """Back to the page the button was on; never to another site."""
    target = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()})
    return target if allowed else ""


def _not_settled_text(job: UpscaleJob) -> str:
    if job.status != JobStatus.UNKNOWN:
        return "Only a charged job can be marked refunded, and only once."
    return "This job's money was already settled."


urlpatterns = [
    path("spend/", dashboard, name="spend_dashboard"),
    path("spend/export.csv", export, name="spend_export"),
    path("spend/estimate/", estimate, name="spend_estimate"),
    path("spend/budgets/", budgets, name="spend_budgets"),
    path("spend/budgets/<int:pk>/remove", budget_remove, name="spend_budget_remove"),
    path("spend/prices/", prices, name="spend_prices"),
    path("spend/jobs/<uuid:public_id>/settle", settle_job, name="spend_settle_job"),
]
