"""Money figures for the API, from the same code the Spend page uses.

`jobs.spend_report` rolls the ledger up (captured minus refunded, by provider, user and day
in the team's time zone); `jobs.spend` knows the budgets. This module only shapes their
answers into JSON, so the API and the dashboard can never disagree.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Q

from jobs import spend, spend_report
from jobs.api.errors import invalid
from jobs.api.serialize import money
from jobs.models import Budget, Team


def period(team: Team, start: str | None, end: str | None) -> spend_report.Period:
    """Inclusive dates; by default the current month up to today."""
    try:
        return spend_report.period_for(team, start=start or "", end=end or "")
    except ValueError as exc:
        field = "from" if str(exc).startswith("From") else "to"
        raise invalid(str(exc), field) from None


def spend_totals(team: Team, chosen: spend_report.Period) -> dict[str, Any]:
    report = spend_report.report(team, chosen)
    return {
        "period": {
            "from": chosen.start.isoformat(),
            "to": chosen.end.isoformat(),
            "time_zone": str(chosen.zone),
        },
        "total": money(report.total_micros),
        "by_provider": [
            {"provider": line.key, **money(line.usd_micros, line.credits), "jobs": line.jobs}
            for line in report.by_provider
        ],
        "by_user": [
            {"user": line.label, **money(line.usd_micros), "jobs": line.jobs}
            for line in report.by_user
        ],
        "by_day": [{"day": day.day.isoformat(), **money(day.usd_micros)} for day in report.by_day],
    }


def budget_effect(team: Team, user: AbstractBaseUser, providers: list[str]) -> list[dict]:
    """Each active budget these jobs count against, and where it stands this month."""
    applies = Q()
    for provider in providers:
        applies |= spend.applies_to(provider, user.pk)
    budgets = Budget.objects.filter(team=team, is_active=True).filter(applies)
    return [
        _standing(standing) for standing in spend.standings(team, budgets.select_related("user"))
    ]


def _standing(standing: spend.Standing) -> dict[str, Any]:
    budget = standing.budget
    return {
        "budget": standing.label,
        "scope": budget.scope,
        "provider": budget.provider or None,
        "user": budget.user.get_username() if budget.user_id else None,
        "limit": money(standing.limit),
        "used_this_month": money(standing.used),
        "remaining": money(standing.remaining),
        "percent_used": standing.percent,
        "warning": standing.warning,
    }
