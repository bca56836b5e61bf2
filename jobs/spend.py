"""Prices, budgets and estimates: what a job will cost and what each budget has left.

`jobs.ledger` is the only writer of money (LedgerEntry, BudgetUsage); this module reads
them, and keeps the configuration they are computed from: dated price rows and budgets.
Reports over the ledger (dashboard, anomalies, CSV) live in `jobs.spend_report`.

Months and days are calendar months and days in the team's time zone, as the team sees them.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs.models import (
    Budget,
    BudgetScope,
    BudgetUsage,
    PriceEntry,
    ProviderAccount,
    Team,
    UpscaleJob,
)
from jobs.providers.base import Cost, Provider
from jobs.providers.registry import PROVIDERS, get_provider_class

MICROS = 1_000_000


# ----- time ---------------------------------------------------------------------------------
def team_zone(team: Team) -> zoneinfo.ZoneInfo:
    """The team's time zone; UTC when the stored name is not a zone Python knows."""
    try:
        return zoneinfo.ZoneInfo(team.time_zone or "UTC")
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return zoneinfo.ZoneInfo("UTC")


def month_start(zone: zoneinfo.ZoneInfo, at: datetime | None = None) -> date:
    """First day of the calendar month `at` falls in, in `zone`."""
    return (at or timezone.now()).astimezone(zone).date().replace(day=1)


def local_midnight(day: date, zone: zoneinfo.ZoneInfo) -> datetime:
    return datetime.combine(day, time.min, tzinfo=zone)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


# ----- prices -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Price:
    """One priced unit: its credits and what a credit costs. No `valid_from`: a default."""

    credits: Decimal
    usd_micros_per_credit: Decimal
    valid_from: datetime | None = None

    @property
    def usd_micros(self) -> int:
        return usd_of(self.credits, self.usd_micros_per_credit)

    @property
    def is_default(self) -> bool:
        return self.valid_from is None


def usd_of(credits: Decimal, usd_micros_per_credit: Decimal) -> int:
    return int((Decimal(credits) * usd_micros_per_credit).to_integral_value(ROUND_HALF_UP))


def default_price(cls: type[Provider], key: str) -> Price:
    """The documented list price (the provider class), used until a team edits its table."""
    return Price(Decimal(cls.default_prices.get(key, 0)), Decimal(cls.usd_micros_per_credit))


def prices_at(account_ids: Iterable[int], at: datetime | None = None) -> dict[Any, Price]:
    """The price row in force at `at` for each (account id, price key); one query."""
    rows = (
        PriceEntry.objects.filter(account_id__in=list(account_ids), valid_from__lte=at or _now())
        .order_by("account_id", "price_key", "-valid_from", "-id")
        .values_list("account_id", "price_key", "credits", "usd_micros_per_credit", "valid_from")
    )
    found: dict[Any, Price] = {}
    for account_id, key, credits, rate, valid_from in rows:
        found.setdefault((account_id, key), Price(credits, rate, valid_from))
    return found


def price_of(
    cls: type[Provider], key: str, account_id: int | None, at: datetime | None = None
) -> Price:
    if account_id is None:
        return default_price(cls, key)
    return prices_at([account_id], at).get((account_id, key)) or default_price(cls, key)


def job_cost(
    cls: type[Provider],
    options: Mapping[str, Any],
    account_id: int | None,
    *,
    units: Decimal | int | None = None,
    prices: Mapping[Any, Price] | None = None,
) -> Cost:
    """A job's cost from the account's price table (or the provider's defaults)."""
    key = cls.price_key(options)
    if prices is None:
        price = price_of(cls, key, account_id)
    else:
        price = prices.get((account_id, key)) or default_price(cls, key)
    credits = price.credits * Decimal(cls.price_units(options) if units is None else units)
    return Cost(
        credits=credits,
        usd_micros=usd_of(credits, price.usd_micros_per_credit),
        source="price_table",
    )


def estimates_for(jobs: Sequence[UpscaleJob]) -> list[Cost]:
    """Each new job's hold at submit, from the price tables in force now (one query)."""
    prices = prices_at({job.account_id for job in jobs if job.account_id is not None})
    return [
        job_cost(get_provider_class(job.provider), job.options, job.account_id, prices=prices)
        for job in jobs
    ]


def estimate_for(job: UpscaleJob) -> Cost:
    """What one job costs at the prices in force now (its account's table, or defaults)."""
    return job_cost(get_provider_class(job.provider), job.options, job.account_id)


def priced(job: UpscaleJob, cost: Cost) -> Cost:
    """The amount to record for a cost an adapter reported about this job.

    Adapters price from the documented defaults; the team's own price table wins. A
    provider-reported dollar amount is kept as it is, and reported credits without one
    (useapi's Dreamina credits) are converted at the table's rate.
    """
    try:
        cls = get_provider_class(job.provider)
    except LookupError:
        return cost
    if cost.source == "price_table":
        units = units_in(cls, job.options, cost.credits)
        return job_cost(cls, job.options, job.account_id, units=units)
    if cost.usd_micros == 0 and cost.credits > 0:
        rate = price_of(cls, cls.price_key(job.options), job.account_id).usd_micros_per_credit
        return Cost(credits=cost.credits, usd_micros=usd_of(cost.credits, rate), source="reported")
    return cost


def units_in(cls: type[Provider], options: Mapping[str, Any], credits: Decimal) -> Decimal:
    """How many priced units a list-price cost stands for (Ideogram bills per image returned)."""
    listed = Decimal(cls.default_prices.get(cls.price_key(options), 0))
    if listed > 0:
        return Decimal(credits) / listed
    return Decimal(cls.price_units(options))


def dollars_text(micros: Decimal) -> str:
    """Micro-dollars as plain dollars, however small: 0.5 -> "0.0000005"."""
    return f"{(Decimal(micros) / MICROS).normalize():f}"


def set_prices(
    account: ProviderAccount,
    user: AbstractBaseUser | None,
    credits_by_key: Mapping[str, Decimal],
    usd_micros_per_credit: Decimal,
    valid_from: datetime,
) -> list[PriceEntry]:
    """Add dated rows for an account's price table. Old rows stay: past spend never moves."""
    rows = [
        PriceEntry(
            account=account,
            price_key=key,
            credits=credits,
            usd_micros_per_credit=usd_micros_per_credit,
            valid_from=valid_from,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        for key, credits in credits_by_key.items()
    ]
    return PriceEntry.objects.bulk_create(rows)


@dataclass
class PriceTable:
    """An account's prices as they stand now, with every dated row for its history."""

    account: ProviderAccount
    provider: type[Provider]
    current: dict[str, Price]
    history: list[PriceEntry] = field(default_factory=list)

    @property
    def usd_micros_per_credit(self) -> Decimal:
        rates = [price.usd_micros_per_credit for price in self.current.values()]
        return rates[0] if rates else Decimal(self.provider.usd_micros_per_credit)

    @property
    def rate_text(self) -> str:
        """What one of the provider's credits costs, the way its docs put it."""
        rate, unit = self.usd_micros_per_credit, self.provider.credit_unit
        if rate <= 0:
            return f"The dollar price of {unit} is not set"
        if rate < 1_000:  # a fraction of a tenth of a cent: say how many a dollar buys
            return f"{MICROS / rate:,.0f} {unit} per $1"
        return f"1 {unit.removesuffix('s')} = ${dollars_text(rate)}"


def price_tables(team: Team) -> list[PriceTable]:
    """Every priced account of the team (two queries)."""
    accounts = [
        account
        for account in ProviderAccount.objects.filter(team=team).order_by("provider", "label")
        if account.provider in PROVIDERS
    ]
    current = prices_at(account.pk for account in accounts)
    history = PriceEntry.objects.filter(account__in=accounts).select_related("created_by")
    tables = []
    for account in accounts:
        cls = get_provider_class(account.provider)
        prices = {
            key: current.get((account.pk, key)) or default_price(cls, key)
            for key in cls.default_prices
        }
        rows = [row for row in history if row.account_id == account.pk]
        for row in rows:
            row.usd_per_credit = dollars_text(row.usd_micros_per_credit)  # type: ignore[attr-defined]
        tables.append(PriceTable(account, cls, prices, rows))
    return tables


# ----- budgets ------------------------------------------------------------------------------
def applies_to(provider: str, user_id: int | None) -> Q:
    """The budgets a job of this provider by this user counts against."""
    return (
        Q(scope=BudgetScope.TEAM)
        | Q(scope=BudgetScope.PROVIDER, provider=provider)
        | Q(scope=BudgetScope.USER, user_id=user_id)
    )


def budget_label(budget: Budget) -> str:
    """How people name a budget: "Team budget", "Ideogram budget", "alice's budget"."""
    if budget.scope == BudgetScope.PROVIDER:
        cls = PROVIDERS.get(budget.provider)
        return f"{cls.name if cls else budget.provider} budget"
    if budget.scope == BudgetScope.USER:
        name = budget.user.get_username() if budget.user_id else "someone"
        return f"{name}'s budget"
    return "Team budget"


@dataclass
class Standing:
    """Where one budget stands this month, and where a batch would leave it."""

    budget: Budget
    used: int
    needed: int = 0

    @property
    def label(self) -> str:
        return budget_label(self.budget)

    @property
    def limit(self) -> int:
        return self.budget.monthly_limit_micros

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def remaining_after(self) -> int:
        return self.remaining - self.needed

    @property
    def over_by(self) -> int:
        return max(0, self.used + self.needed - self.limit)

    @property
    def fits(self) -> bool:
        return self.used + self.needed <= self.limit

    @property
    def percent(self) -> int:
        return round(100 * self.used / self.limit) if self.limit > 0 else 100

    @property
    def percent_after(self) -> int:
        return round(100 * (self.used + self.needed) / self.limit) if self.limit > 0 else 100

    @property
    def warning(self) -> bool:
        return self.percent >= self.budget.warn_percent


def standings(team: Team, budgets: Iterable[Budget] | None = None) -> list[Standing]:
    """The team's active budgets (or the ones given) with this month's usage; two queries."""
    if budgets is None:
        budgets = Budget.objects.filter(team=team, is_active=True).select_related("user")
    budgets = sorted(budgets, key=lambda b: (_SCOPE_ORDER[b.scope], b.provider, b.user_id or 0))
    month = month_start(team_zone(team))
    used = dict(
        BudgetUsage.objects.filter(budget__in=budgets, month=month).values_list(
            "budget_id", "used_micros"
        )
    )
    return [Standing(budget, used.get(budget.pk, 0)) for budget in budgets]


_SCOPE_ORDER = {BudgetScope.TEAM: 0, BudgetScope.PROVIDER: 1, BudgetScope.USER: 2}


def warnings_for(team: Team | None) -> list[Standing]:
    """Budgets past their soft threshold this month: the banner shown on every page."""
    if team is None:
        return []
    return [standing for standing in standings(team) if standing.warning]


class BudgetError(ValueError):
    """A budget could not be saved; the message is for the user."""


def save_budget(
    team: Team,
    *,
    scope: str,
    limit_micros: int,
    warn_percent: int,
    provider: str = "",
    user_id: int | None = None,
) -> Budget:
    """Create or change the team's budget for one scope, counting this month's spend so far."""
    from jobs import ledger

    if limit_micros <= 0:
        raise BudgetError("A monthly limit must be more than $0.")
    if not 1 <= warn_percent <= 100:
        raise BudgetError("The warning threshold must be between 1% and 100%.")
    provider = provider if scope == BudgetScope.PROVIDER else ""
    user_id = user_id if scope == BudgetScope.USER else None
    with transaction.atomic():
        budget, _ = Budget.objects.update_or_create(
            team=team,
            scope=scope,
            provider=provider,
            user_id=user_id,
            defaults={
                "monthly_limit_micros": limit_micros,
                "warn_percent": warn_percent,
                "is_active": True,
            },
        )
        ledger.recount_usage(budget, month_start(team_zone(team)))
    return budget


def remove_budget(team: Team, budget_id: int) -> Budget | None:
    """Delete a budget and its monthly usage rows (the ledger itself is untouched)."""
    budget = Budget.objects.filter(team=team, pk=budget_id).select_related("user").first()
    if budget is not None:
        budget.delete()
    return budget


# ----- estimates ----------------------------------------------------------------------------
@dataclass
class EstimateLine:
    """`count` jobs of one provider with one set of options."""

    provider: type[Provider]
    options: dict[str, Any]
    count: int
    unit: Cost

    @property
    def total_micros(self) -> int:
        return self.unit.usd_micros * self.count

    @property
    def total_credits(self) -> Decimal:
        return self.unit.credits * self.count


@dataclass
class Estimate:
    lines: list[EstimateLine]
    standings: list[Standing]

    @property
    def total_micros(self) -> int:
        return sum(line.total_micros for line in self.lines)

    @property
    def jobs(self) -> int:
        return sum(line.count for line in self.lines)

    @property
    def refused_by(self) -> Standing | None:
        return next((s for s in self.standings if not s.fits), None)


@dataclass
class PlannedJob:
    """What an estimate needs to know about one job-to-be."""

    provider: str
    options: dict[str, Any]
    account_id: int | None
    count: int = 1


def estimate(team: Team, user: AbstractBaseUser, planned: list[PlannedJob]) -> Estimate:
    """The batch's cost and what each budget it counts against has left afterwards."""
    prices = prices_at({p.account_id for p in planned if p.account_id is not None})
    lines = []
    for item in planned:
        cls = get_provider_class(item.provider)
        unit = job_cost(cls, item.options, item.account_id, prices=prices)
        lines.append(EstimateLine(cls, item.options, item.count, unit))
    applicable = Q(pk__in=[])
    for item in planned:
        applicable |= applies_to(item.provider, user.pk)
    budgets = Budget.objects.filter(team=team, is_active=True).filter(applicable)
    found = standings(team, budgets.select_related("user"))
    for standing in found:
        standing.needed = sum(
            line.total_micros
            for line in lines
            if covers(standing.budget, line.provider.slug, user.pk)
        )
    return Estimate(lines, found)


def covers(budget: Budget, provider: str, user_id: int | None) -> bool:
    """The same rule as `applies_to`, for budgets already in hand."""
    if budget.scope == BudgetScope.PROVIDER:
        return budget.provider == provider
    if budget.scope == BudgetScope.USER:
        return budget.user_id is not None and budget.user_id == user_id
    return True


def _now() -> datetime:
    return timezone.now()
