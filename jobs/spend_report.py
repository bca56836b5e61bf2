"""Spend reports over the ledger: totals by provider, person and day, money held, anomalies.

Spend is what was charged: captures minus refunds, dated when the ledger recorded them,
in the team's time zone. Every figure is aggregated in the database with a fixed number of
queries, whatever the number of jobs: the spend by day, provider and person comes from a
single GROUP BY, rolled up here.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    DateField,
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import TruncDate
from django.utils import timezone

from jobs import spend
from jobs.models import (
    ACTIVE_STATUSES,
    JobStatus,
    LedgerEntry,
    LedgerKind,
    ResultImage,
    Team,
    UpscaleJob,
)
from jobs.providers.registry import PROVIDERS

MAX_PERIOD_DAYS = 366
ANOMALY_ROWS = 20
# An active job still holding its reservation after this long is stuck, not busy.
STUCK_AFTER = timedelta(hours=24)
CHARGES = (LedgerKind.CAPTURE, LedgerKind.REFUND)


# ----- the period -------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """Inclusive calendar days in the team's time zone."""

    start: date
    end: date
    zone: zoneinfo.ZoneInfo

    @property
    def since(self) -> datetime:
        return spend.local_midnight(self.start, self.zone)

    @property
    def until(self) -> datetime:
        return spend.local_midnight(self.end + timedelta(days=1), self.zone)

    @property
    def days(self) -> list[date]:
        return [self.start + timedelta(days=n) for n in range((self.end - self.start).days + 1)]


PRESETS = {
    "month": "This month",
    "last-month": "Last month",
    "30d": "Last 30 days",
    "90d": "Last 90 days",
}


def period_for(team: Team, preset: str = "", start: str = "", end: str = "") -> Period:
    """The period asked for: explicit dates win over a preset; this month by default.

    Raises ValueError with a message for the user when the dates are not usable.
    """
    zone = spend.team_zone(team)
    today = timezone.now().astimezone(zone).date()
    if start or end:
        first, last = _parse_day(start, "From") or today.replace(day=1), _parse_day(end, "To")
        return _checked(first, last or today, zone)
    if preset == "last-month":
        last = today.replace(day=1) - timedelta(days=1)
        return Period(last.replace(day=1), last, zone)
    if preset in ("30d", "90d"):
        return Period(today - timedelta(days=int(preset[:-1]) - 1), today, zone)
    return Period(today.replace(day=1), today, zone)


def _parse_day(text: str, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{name} must be a date like 2025-01-31 (got {text!r}).") from None


def _checked(start: date, end: date, zone: zoneinfo.ZoneInfo) -> Period:
    if end < start:
        raise ValueError("The end of the period is before its start.")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise ValueError(f"Choose at most {MAX_PERIOD_DAYS} days at a time.")
    return Period(start, end, zone)


# ----- spend ------------------------------------------------------------------------------
@dataclass
class Line:
    """One row of a breakdown: spend, the provider's own credits, and jobs charged."""

    key: str
    label: str
    usd_micros: int = 0
    credits: Decimal = Decimal(0)
    jobs: int = 0
    unit: str = ""

    def add(self, row: Mapping[str, Any]) -> None:
        self.usd_micros += row["usd"] or 0
        self.credits += row["credits"] or 0
        self.jobs += row["jobs"]


@dataclass
class Day:
    day: date
    usd_micros: int = 0
    by_provider: dict[str, int] = field(default_factory=dict)


@dataclass
class Report:
    period: Period
    by_provider: list[Line]
    by_user: list[Line]
    by_day: list[Day]
    held_micros: int
    held_jobs: int
    standings: list[spend.Standing]
    anomalies: Anomalies

    @property
    def total_micros(self) -> int:
        return sum(line.usd_micros for line in self.by_provider)

    @property
    def charged_jobs(self) -> int:
        return sum(line.jobs for line in self.by_provider)


def report(team: Team, period: Period) -> Report:
    """Everything the spend page shows, in a fixed number of queries."""
    rows = list(_grouped_charges(team, period))
    held = held_reservations(team)
    return Report(
        period=period,
        by_provider=_by_provider(rows),
        by_user=_by_user(rows),
        by_day=_by_day(rows, period),
        held_micros=held["usd"] or 0,
        held_jobs=held["jobs"],
        standings=spend.standings(team),
        anomalies=anomalies(team),
    )


def charges(team: Team, period: Period) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(
        team=team, kind__in=CHARGES, created_at__gte=period.since, created_at__lt=period.until
    )


def _signed(name: str) -> Case:
    """Captures count up, refunds count down."""
    output = (
        DecimalField(max_digits=24, decimal_places=4) if name == "credits" else BigIntegerField()
    )
    return Case(When(kind=LedgerKind.REFUND, then=-F(name)), default=F(name), output_field=output)


def _grouped_charges(team: Team, period: Period) -> QuerySet:
    """Spend per (day, provider, person): the one query every breakdown is rolled up from."""
    return (
        charges(team, period)
        .annotate(day=local_day("created_at", period))
        .values("day", "provider", "user_id")
        .annotate(
            usd=Sum(_signed("usd_micros")),
            credits=Sum(_signed("credits")),
            jobs=Count("id", filter=Q(kind=LedgerKind.CAPTURE)),
        )
        .order_by()
    )


def local_day(name: str, period: Period) -> Any:
    """The calendar day of a timestamp field in the period's time zone, computed in SQL.

    PostgreSQL converts natively. On SQLite Django's TruncDate calls back into Python for
    every row (3-4 times slower here), so the period is cut where the zone's UTC offset
    changes (daylight saving) and each piece is shifted by its fixed offset with date().
    """
    if connection.vendor != "sqlite":
        return TruncDate(name, tzinfo=period.zone)
    offset = _offset(period.zone, period.since)
    pieces = []
    for change, new_offset in offset_changes(period.zone, period.since, period.until):
        pieces.append(When(**{f"{name}__lt": change}, then=_shifted(name, offset)))
        offset = new_offset
    if not pieces:
        return _shifted(name, offset)
    return Case(*pieces, default=_shifted(name, offset), output_field=DateField())


def _shifted(name: str, offset: int) -> Func:
    return Func(F(name), Value(f"{offset:+d} seconds"), function="date", output_field=DateField())


def _offset(zone: zoneinfo.ZoneInfo, at: datetime) -> int:
    return int(at.astimezone(zone).utcoffset().total_seconds())  # type: ignore[union-attr]


def offset_changes(
    zone: zoneinfo.ZoneInfo, since: datetime, until: datetime
) -> list[tuple[datetime, int]]:
    """Each instant in [since, until) where the zone's UTC offset changes, and the new one."""
    changes = []
    # In UTC: arithmetic on zone-aware datetimes is wall-clock arithmetic, wrong around DST.
    at, until = since.astimezone(UTC), until.astimezone(UTC)
    while at < until:
        step = min(at + timedelta(days=1), until)
        if _offset(zone, step) != _offset(zone, at):
            changes.append(_change_between(zone, at, step))
        at = step
    return changes


def _change_between(zone: zoneinfo.ZoneInfo, low: datetime, high: datetime) -> tuple[datetime, int]:
    """Bisect to the exact microsecond the offset changes (offsets differ at the ends)."""
    before = _offset(zone, low)
    while high - low > timedelta(microseconds=1):
        middle = low + (high - low) / 2
        if _offset(zone, middle) == before:
            low = middle
        else:
            high = middle
    return high.astimezone(UTC), _offset(zone, high)


def _by_provider(rows: list[dict[str, Any]]) -> list[Line]:
    lines: dict[str, Line] = {}
    for row in rows:
        slug = row["provider"]
        if slug not in lines:
            cls = PROVIDERS.get(slug)
            name, unit = (cls.name, cls.credit_unit) if cls else (slug, "credits")
            lines[slug] = Line(slug, name, unit=unit)
        lines[slug].add(row)
    return sorted(lines.values(), key=lambda line: -line.usd_micros)


def _by_user(rows: list[dict[str, Any]]) -> list[Line]:
    """Spend per person. Names are looked up once for the few ids (a join per entry costs
    more than the whole aggregation on SQLite)."""
    ids = {row["user_id"] for row in rows if row["user_id"]}
    people = get_user_model()
    names = dict(people.objects.filter(pk__in=ids).values_list("pk", people.USERNAME_FIELD))
    lines: dict[str, Line] = {}
    for row in rows:
        key = str(row["user_id"] or "")
        label = names.get(row["user_id"], "(deleted user)")
        lines.setdefault(key, Line(key, label)).add(row)
    return sorted(lines.values(), key=lambda line: -line.usd_micros)


def _by_day(rows: list[dict[str, Any]], period: Period) -> list[Day]:
    days = {day: Day(day) for day in period.days}
    for row in rows:
        day = days.get(_as_date(row["day"]))
        if day is None:
            continue
        day.usd_micros += row["usd"] or 0
        day.by_provider[row["provider"]] = day.by_provider.get(row["provider"], 0) + (
            row["usd"] or 0
        )
    return list(days.values())


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


# ----- held money and anomalies -------------------------------------------------------------
# Jobs that can still hold a reservation. SUCCEEDED is only ever set in the same
# transaction as its settlement, so looking there would only make the queries slower.
_NOT_DELIVERED = sorted({JobStatus.FAILED, JobStatus.LOST, JobStatus.CANCELED, JobStatus.UNKNOWN})
_MAY_HOLD = sorted({*_NOT_DELIVERED, *ACTIVE_STATUSES})


def _jobs_in(team: Team, statuses: list[str]) -> QuerySet[UpscaleJob]:
    """The team's jobs in a few (rare) statuses, found through the status index.

    `team_id + 0` keeps the planner off the team index: a team has many jobs but few
    in these statuses, and SQLite, which keeps no statistics by default, would otherwise
    walk every job of the team.
    """
    team_key = ExpressionWrapper(F("team_id") + Value(0), output_field=BigIntegerField())
    return UpscaleJob.objects.alias(team_key=team_key).filter(team_key=team.pk, status__in=statuses)


def _entry_of(kind: str) -> QuerySet[LedgerEntry]:
    return LedgerEntry.objects.filter(job=OuterRef("pk"), kind=kind)


def held_reservations(team: Team) -> dict[str, Any]:
    """Money reserved for jobs that are not settled yet (running, or waiting for a person)."""
    released = LedgerEntry.objects.filter(job=OuterRef("job_id"), kind=LedgerKind.RELEASE)
    return (
        LedgerEntry.objects.filter(kind=LedgerKind.RESERVE, job__in=_jobs_in(team, _MAY_HOLD))
        .filter(~Exists(released))
        .aggregate(usd=Sum("usd_micros"), jobs=Count("id"))
    )


@dataclass
class Anomalies:
    charged_no_result: list[UpscaleJob]
    charged_no_result_count: int
    unsettled: list[UpscaleJob]
    unsettled_count: int

    @property
    def count(self) -> int:
        return self.charged_no_result_count + self.unsettled_count


# A capture of nothing (a credit price nobody set yet) charged nothing worth chasing.
_paid = Q(usd_micros__gt=0) | Q(credits__gt=0)


def charged_without_result(team: Team) -> QuerySet[UpscaleJob]:
    """Jobs charged (and not refunded) that delivered no image.

    A succeeded job always stored its results, so only the other endings are looked at.
    Images withheld as unsafe count as delivered where the provider bills them (Ideogram).
    """
    delivered = ResultImage.objects.filter(job=OuterRef("pk")).exclude(file="")
    withheld = ResultImage.objects.filter(job=OuterRef("pk"), is_safe=False)
    billed_withheld = [slug for slug, cls in PROVIDERS.items() if cls.bills_withheld_images]
    return (
        _jobs_in(team, _NOT_DELIVERED)
        .filter(Exists(_entry_of(LedgerKind.CAPTURE).filter(_paid)))
        .filter(~Exists(_entry_of(LedgerKind.REFUND)), ~Exists(delivered))
        .exclude(Q(provider__in=billed_withheld) & Exists(withheld))
    )


def never_settled(team: Team) -> QuerySet[UpscaleJob]:
    """Jobs over (or stuck for a day) whose reservation was never released."""
    over_or_stuck = Q(status__in=_NOT_DELIVERED) | Q(created_at__lt=timezone.now() - STUCK_AFTER)
    return (
        _jobs_in(team, _MAY_HOLD)
        .filter(over_or_stuck)
        .filter(Exists(_entry_of(LedgerKind.RESERVE)), ~Exists(_entry_of(LedgerKind.RELEASE)))
    )


def anomalies(team: Team) -> Anomalies:
    charged, charged_count = _listed(charged_without_result(team), LedgerKind.CAPTURE)
    unsettled, unsettled_count = _listed(never_settled(team), LedgerKind.RESERVE)
    return Anomalies(charged, charged_count, unsettled, unsettled_count)


def _listed(jobs: QuerySet[UpscaleJob], kind: str) -> tuple[list[UpscaleJob], int]:
    """The newest few, each with the amount charged or held, and how many there are.

    One query: the count rides along as a window over the whole match (before LIMIT).
    """
    amount = Subquery(_entry_of(kind).values("usd_micros")[:1])
    newest = jobs.annotate(amount_micros=amount, matching=Window(Count("pk")))
    rows = list(newest.order_by("-created_at", "-id")[:ANOMALY_ROWS])
    return rows, rows[0].matching if rows else 0  # type: ignore[attr-defined]


# ----- drill-down and export --------------------------------------------------------------
def holding(team: Team) -> QuerySet[UpscaleJob]:
    """The jobs behind "held": a reservation not released yet."""
    return _jobs_in(team, _MAY_HOLD).filter(
        Exists(_entry_of(LedgerKind.RESERVE)), ~Exists(_entry_of(LedgerKind.RELEASE))
    )


# The `money` filter of the jobs page: the jobs behind the dashboard's other figures.
MONEY_FILTERS = {
    "charged-no-result": charged_without_result,
    "unsettled": never_settled,
    "held": holding,
}


def filter_jobs(jobs: QuerySet[UpscaleJob], params: Mapping[str, str], team: Team) -> QuerySet:
    """Narrow the jobs page to the jobs behind a spend figure.

    `provider`, `user` (an id), `from`/`to` (days charged, team time zone) and `money`.
    Unusable values are ignored, as for the page's other filters.
    """
    if params.get("provider") in PROVIDERS:
        jobs = jobs.filter(provider=params["provider"])
    if str(params.get("user") or "").isdigit():
        jobs = jobs.filter(created_by_id=int(params["user"]))
    if params.get("money") in MONEY_FILTERS:
        jobs = jobs.filter(pk__in=MONEY_FILTERS[params["money"]](team).values("pk"))
    if params.get("from") or params.get("to"):
        try:
            period = period_for(team, start=params.get("from", ""), end=params.get("to", ""))
        except ValueError:
            return jobs
        charged = charges(team, period).filter(job=OuterRef("pk"))
        jobs = jobs.filter(Exists(charged))
    return jobs


CSV_HEADER = [
    "time",
    "kind",
    "provider",
    "job",
    "user",
    "usd",
    "credits",
    "credit_unit",
    "source",
    "note",
]


def ledger_rows(team: Team, period: Period) -> Iterator[list[str]]:
    """Every ledger entry of the period, oldest first, as CSV cells (streamed in chunks)."""
    entries = (
        LedgerEntry.objects.filter(
            team=team, created_at__gte=period.since, created_at__lt=period.until
        )
        .order_by("created_at", "id")
        .values_list(
            "created_at",
            "kind",
            "provider",
            "job__public_id",
            "user__username",
            "usd_micros",
            "credits",
            "source",
            "note",
        )
    )
    for at, kind, slug, job_id, username, usd, credits, source, note in entries.iterator(2000):
        cls = PROVIDERS.get(slug)
        yield [
            at.astimezone(period.zone).isoformat(timespec="seconds"),
            kind,
            slug,
            str(job_id or ""),
            username or "",
            f"{Decimal(usd) / spend.MICROS:.6f}",
            f"{credits.normalize():f}",
            cls.credit_unit if cls else "credits",
            source,
            note,
        ]
