"""The only module that writes money: ledger entries and budget usage.

Append-only: a job gets at most one entry of each kind (a unique constraint), so a retried
task or a late webhook can never charge twice. Reserve the estimate at submit, capture what
the provider actually charged, release the reservation once the job is over, refund a
charge the provider gave back.

Budgets count what each job has *committed*: its reservation while nothing is charged,
then what was charged (minus refunds) once there is a capture, and nothing once a job
without a charge is released. `BudgetUsage.used_micros` is the sum of that over the jobs
reserved in the month, kept up to date by every write here. Reservations raise it with a
conditional UPDATE (`used + needed <= limit`), which is atomic on SQLite and PostgreSQL
alike, so concurrent submits can never push a budget past its limit.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import Case, Count, F, Sum, Value, When
from django.db.models.functions import Greatest
from django.utils import timezone

from jobs import spend
from jobs.models import (
    Budget,
    BudgetUsage,
    ErrorKind,
    JobStatus,
    LedgerEntry,
    LedgerKind,
    Membership,
    Role,
    Team,
    UpscaleJob,
)
from jobs.providers.base import Cost, Provider
from jobs.providers.registry import get_provider_class
from jobs.templatetags.money import usd

log = logging.getLogger(__name__)
HOLD_NOTE = "Estimate held at submit"


class BudgetRefused(Exception):
    """A budget has less left this month than the batch needs; nothing was written."""

    def __init__(self, budget: Budget, month: date, remaining: int, needed: int) -> None:
        self.budget_label = spend.budget_label(budget)
        self.remaining_micros = remaining
        self.needed_micros = needed
        self.message = (
            f"{self.budget_label} has {usd(remaining)} left for {month:%B %Y}, and this batch "
            f"needs {usd(needed)}. Nothing was sent. Remove some images, choose cheaper "
            "options, or ask an owner or admin to raise the budget."
        )
        super().__init__(self.message)


# ----- reserve ----------------------------------------------------------------------------
def reserve_batch(
    team: Team, user: AbstractBaseUser | None, items: Sequence[tuple[UpscaleJob, Cost]]
) -> list[LedgerEntry]:
    """Hold every job's estimate on every budget it counts against, or refuse the whole batch.

    Run it inside the transaction that creates the jobs: a refusal raises BudgetRefused
    and the caller's rollback removes the jobs, so a refused batch leaves nothing behind.
    """
    with transaction.atomic():
        entries = LedgerEntry.objects.bulk_create(
            [_entry(job, LedgerKind.RESERVE, cost, HOLD_NOTE) for job, cost in items]
        )
        budgets = {b.pk: b for b in Budget.objects.filter(team=team, is_active=True)}
        needs = _budget_needs(team, budgets.values(), entries)
        new_jobs = {entry.job_id for entry in entries}
        # Always the same order, so two batches never wait on each other's rows (deadlock).
        for (budget_id, month), needed in sorted(needs.items()):
            _take(budgets[budget_id], month, needed, new_jobs)
        _warn_crossed(team, set(needs))
    return entries


def _budget_needs(
    team: Team, budgets: Iterable[Budget], entries: list[LedgerEntry]
) -> dict[tuple[int, date], int]:
    """What the batch adds to each (budget, month) row."""
    zone = spend.team_zone(team)
    needs: dict[tuple[int, date], int] = defaultdict(int)
    for entry in entries:
        if entry.usd_micros <= 0:
            continue  # a free job (local) is never refused, even by a spent budget
        month = spend.month_start(zone, entry.created_at)
        for budget in budgets:
            if spend.covers(budget, entry.provider, entry.user_id):
                needs[(budget.pk, month)] += entry.usd_micros
    return needs


def _take(budget: Budget, month: date, needed: int, new_jobs: set[int]) -> None:
    """The conditional UPDATE: add `needed` only if the month stays within the limit."""
    row_id = _usage_row(budget, month, exclude_jobs=new_jobs)
    room = budget.monthly_limit_micros - needed
    took = BudgetUsage.objects.filter(pk=row_id, used_micros__lte=room).update(
        used_micros=F("used_micros") + needed
    )
    if not took:
        used = BudgetUsage.objects.filter(pk=row_id).values_list("used_micros", flat=True).get()
        remaining = max(0, budget.monthly_limit_micros - used)
        raise BudgetRefused(budget, month, remaining, needed)


def _usage_row(budget: Budget, month: date, exclude_jobs: set[int] = frozenset()) -> int:
    """The id of the budget's row for the month, created race-free when missing.

    Two first submits of a month may both find no row: the unique constraint lets one
    insert win and the other read the winner's row. A new row starts from what the ledger
    already holds for the month (a budget added mid-month counts the spend so far).
    """
    found = BudgetUsage.objects.filter(budget=budget, month=month).values_list("pk", flat=True)
    if found:
        return found[0]
    try:
        with transaction.atomic():
            row = BudgetUsage.objects.create(budget=budget, month=month)
    except IntegrityError:
        return BudgetUsage.objects.get(budget=budget, month=month).pk
    used = committed_micros(budget, month, exclude_jobs=exclude_jobs)
    BudgetUsage.objects.filter(pk=row.pk).update(used_micros=used)
    return row.pk


def recount_usage(budget: Budget, month: date) -> BudgetUsage:
    """Set a month's usage to what the ledger says (used when a budget is added or changed)."""
    row_id = _usage_row(budget, month)
    with transaction.atomic():
        # Lock the row first: on PostgreSQL a submit that committed while we waited is then
        # visible to the ledger read below, so its reservation is neither lost nor doubled.
        row = BudgetUsage.objects.select_for_update().get(pk=row_id)
        row.used_micros = committed_micros(budget, month)
        BudgetUsage.objects.filter(pk=row_id).update(used_micros=row.used_micros)
    return row


def committed_micros(budget: Budget, month: date, exclude_jobs: set[int] = frozenset()) -> int:
    """What the ledger commits to this budget for the jobs reserved in `month`."""
    zone = spend.team_zone(budget.team)
    since = spend.local_midnight(month, zone)
    until = spend.local_midnight(spend.next_month(month), zone)
    reserved = LedgerEntry.objects.filter(
        team_id=budget.team_id,
        kind=LedgerKind.RESERVE,
        created_at__gte=since,
        created_at__lt=until,
    ).exclude(job_id__in=exclude_jobs)
    if budget.provider:
        reserved = reserved.filter(provider=budget.provider)
    if budget.user_id:
        reserved = reserved.filter(user_id=budget.user_id)
    per_job = (
        LedgerEntry.objects.filter(job_id__in=reserved.values("job_id"))
        .values("job_id")
        .annotate(**{kind: _sum_of(kind) for kind in LedgerKind.values}, captures=_captures())
    )
    return sum(max(0, _committed_of_sums(row)) for row in per_job)


def _sum_of(kind: str) -> Sum:
    return Sum(Case(When(kind=kind, then=F("usd_micros")), default=Value(0)))


def _captures() -> Count:
    return Count(Case(When(kind=LedgerKind.CAPTURE, then=Value(1))))


def _committed_of_sums(row: Mapping[str, Any]) -> int:
    if row["captures"]:
        return row[LedgerKind.CAPTURE] - row[LedgerKind.REFUND]
    return row[LedgerKind.RESERVE] - row[LedgerKind.RELEASE]


# ----- capture, release, refund -----------------------------------------------------------
def capture(
    job: UpscaleJob, actual: Cost, note: str = "Charged by the provider"
) -> LedgerEntry | None:
    """Record what the provider charged; None if this job was already charged."""
    return _write(job, LedgerKind.CAPTURE, note, lambda held: spend.priced(job, actual))


def release(job: UpscaleJob, note: str = "Reservation released") -> LedgerEntry | None:
    """Give back the reservation once the job is over; None if none or already released."""
    return _write(job, LedgerKind.RELEASE, note, lambda held: held.costs.get(LedgerKind.RESERVE))


def refund(job: UpscaleJob, note: str) -> LedgerEntry | None:
    """The provider gave a charge back (e.g. ImagineAPI refunds failed jobs)."""
    return _write(job, LedgerKind.REFUND, note, lambda held: held.costs.get(LedgerKind.CAPTURE))


@dataclass
class _Held:
    """A job's entries by kind, and when it was reserved."""

    costs: dict[str, Cost]
    reserved_at: datetime | None = None

    def committed(self) -> int:
        """What the job counts against its budgets (see the module docstring)."""
        costs = self.costs
        if LedgerKind.CAPTURE in costs:
            refunded = costs[LedgerKind.REFUND].usd_micros if LedgerKind.REFUND in costs else 0
            return costs[LedgerKind.CAPTURE].usd_micros - refunded
        if LedgerKind.RESERVE in costs and LedgerKind.RELEASE not in costs:
            return costs[LedgerKind.RESERVE].usd_micros
        return 0

    def plus(self, kind: str, cost: Cost) -> _Held:
        return _Held({**self.costs, kind: cost}, self.reserved_at)


def _write(
    job: UpscaleJob, kind: str, note: str, amount_of: Callable[[_Held], Cost | None]
) -> LedgerEntry | None:
    """Append one entry and move the budgets by the change in what the job commits."""
    with transaction.atomic():
        held = _held_locked(job)
        cost = None if kind in held.costs else amount_of(held)
        if cost is None:
            return None
        try:
            with transaction.atomic():
                entry = LedgerEntry.objects.create(**_fields(job, kind, cost, note))
        except IntegrityError:
            return None  # a concurrent writer got there first
        delta = held.plus(kind, cost).committed() - held.committed()
        if delta:
            _adjust(job, held, delta)
    return entry


def _held_locked(job: UpscaleJob) -> _Held:
    """The job's entries, locked on PostgreSQL so writes for one job take turns."""
    rows = (
        LedgerEntry.objects.select_for_update()
        .filter(job=job)
        .values_list("kind", "usd_micros", "credits", "source", "created_at")
    )
    held = _Held({})
    for kind, micros, credits, source, created_at in rows:
        held.costs[kind] = Cost(credits=credits, usd_micros=micros, source=source or "price_table")
        if kind == LedgerKind.RESERVE:
            held.reserved_at = created_at
    return held


def _adjust(job: UpscaleJob, held: _Held, delta: int) -> None:
    """Move the usage rows of the month the job was reserved in, so each month adds up."""
    team = Team.objects.only("name", "time_zone").get(pk=job.team_id)
    month = spend.month_start(spend.team_zone(team), held.reserved_at or job.created_at)
    budgets = Budget.objects.filter(team_id=job.team_id, is_active=True).filter(
        spend.applies_to(job.provider, job.created_by_id)
    )
    # Greatest(…, 0): usage is never negative, even for a row counted before a fix.
    BudgetUsage.objects.filter(budget__in=budgets, month=month).update(
        used_micros=Greatest(F("used_micros") + delta, Value(0))
    )
    if delta > 0:
        _warn_crossed(team, {(pk, month) for pk in budgets.values_list("pk", flat=True)})


def _entry(job: UpscaleJob, kind: str, cost: Cost, note: str) -> LedgerEntry:
    return LedgerEntry(**_fields(job, kind, cost, note))


def _fields(job: UpscaleJob, kind: str, cost: Cost, note: str) -> dict[str, Any]:
    return {
        "team_id": job.team_id,
        "job": job,
        "user_id": job.created_by_id,
        "provider": job.provider,
        "kind": kind,
        "credits": cost.credits,
        "usd_micros": cost.usd_micros,
        "source": cost.source,
        "note": note[:200],
    }


# ----- settlement -------------------------------------------------------------------------
def settle(job: UpscaleJob, status: str) -> None:
    """Close a terminal job's money, following its provider's refund rule.

    UNKNOWN keeps its hold: whether the provider charged is unknown until someone checks
    (see `resolve_unknown`). A job the provider accepted and then failed is charged as the
    provider does it: "free" nothing, "refunded" charged and given back (ImagineAPI takes
    credits on accepting and returns them on failure), "kept" charged.
    """
    if status == JobStatus.UNKNOWN:
        return
    if status != JobStatus.SUCCEEDED:
        _apply_failure_rule(job)
    release(job)


def _apply_failure_rule(job: UpscaleJob) -> None:
    """Charge a job the provider accepted and then failed, the way the provider does."""
    cls = _provider_class(job)
    if cls is None or cls.failed_job_charge == "free" or not job.provider_job_id:
        return
    cost = spend.estimate_for(job)
    if _has(job, LedgerKind.CAPTURE) or not (cost.usd_micros or cost.credits):
        return  # already charged as reported, or a price nobody set: nothing to add
    if cls.failed_job_charge == "refunded" and job.error_kind == ErrorKind.PROVIDER:
        capture(job, cost, f"Taken by {cls.name} when it accepted the job")
        refund(job, f"{cls.name} gives the credits of failed jobs back")
        return
    capture(job, cost, _kept_note(cls, job))


def _kept_note(cls: type[Provider], job: UpscaleJob) -> str:
    if job.error_kind == ErrorKind.PROVIDER:
        return f"{cls.name} accepted the job and keeps its credits when it fails"
    # We gave up (a timeout, a cancel): the provider may still finish, and charge.
    return f"{cls.name} accepted the job, so its credits are counted until someone checks"


def _provider_class(job: UpscaleJob) -> type[Provider] | None:
    try:
        return get_provider_class(job.provider)
    except LookupError:  # a provider since removed: its old jobs keep plain releases
        return None


def _has(job: UpscaleJob, kind: str) -> bool:
    return LedgerEntry.objects.filter(job=job, kind=kind).exists()


def resolve_unknown(job: UpscaleJob, *, charged: bool, user: AbstractBaseUser) -> bool:
    """Settle a job whose outcome was unknown, once someone has checked with the provider."""
    if job.status != JobStatus.UNKNOWN or _has(job, LedgerKind.RELEASE):
        return False
    who = user.get_username()
    if charged:
        capture(job, spend.estimate_for(job), f"Marked as charged by {who}")
    release(job, f"Settled by {who} after checking the provider")
    return True


def record_refund(job: UpscaleJob, *, user: AbstractBaseUser) -> bool:
    """Someone saw the provider give a charge back (e.g. after a support request)."""
    return refund(job, f"Refund recorded by {user.get_username()}") is not None


# ----- soft thresholds --------------------------------------------------------------------
def _warn_crossed(team: Team, keys: set[tuple[int, date]]) -> None:
    """Mark and mail each budget that just crossed its warning threshold, once a month."""
    if not keys:
        return
    months = {month for _, month in keys}
    rows = BudgetUsage.objects.filter(
        budget_id__in={budget_id for budget_id, _ in keys},
        month__in=months,
        warned_at__isnull=True,
        used_micros__gte=F("budget__monthly_limit_micros") * F("budget__warn_percent") / 100,
    ).select_related("budget", "budget__user")
    for row in rows:
        if (row.budget_id, row.month) not in keys:
            continue
        marked = BudgetUsage.objects.filter(pk=row.pk, warned_at__isnull=True).update(
            warned_at=timezone.now()
        )
        if marked:
            transaction.on_commit(lambda row=row: _mail_warning(team, row))


def _mail_warning(team: Team, row: BudgetUsage) -> None:
    budget = row.budget
    label = spend.budget_label(budget)
    percent = round(100 * row.used_micros / budget.monthly_limit_micros)
    subject = f"[Upscaler] {team.name}: {label} is {percent}% used for {row.month:%B %Y}"
    body = (
        f"{label} of {team.name} has used {usd(row.used_micros)} of its "
        f"{usd(budget.monthly_limit_micros)} monthly limit for {row.month:%B %Y} "
        f"({percent}%, warning at {budget.warn_percent}%).\n\n"
        "Submits that would go past the limit will be refused. "
        "See the Spend page for what was spent and by whom."
    )
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, _recipients(team, budget))
    except Exception:  # a mail outage must not break the submit that crossed the threshold
        log.exception("Could not send the budget warning for %s", label)


def _recipients(team: Team, budget: Budget) -> list[str]:
    managers = Membership.objects.filter(team=team, role__in=[Role.OWNER, Role.ADMIN])
    emails = {email for email in managers.values_list("user__email", flat=True) if email}
    if budget.user_id and budget.user.email:
        emails.add(budget.user.email)
    return sorted(emails)


# ----- reading a job's money --------------------------------------------------------------
def job_spend(job: UpscaleJob) -> Cost:
    """What this job cost in the end: captured minus refunded."""
    totals = {
        row["kind"]: row
        for row in LedgerEntry.objects.filter(
            job=job, kind__in=[LedgerKind.CAPTURE, LedgerKind.REFUND]
        )
        .values("kind")
        .annotate(usd=Sum("usd_micros"), credits=Sum("credits"))
    }
    captured = totals.get(LedgerKind.CAPTURE, {"usd": 0, "credits": Decimal(0)})
    refunded = totals.get(LedgerKind.REFUND, {"usd": 0, "credits": Decimal(0)})
    return Cost(
        credits=captured["credits"] - refunded["credits"],
        usd_micros=captured["usd"] - refunded["usd"],
        source="reported",
    )
