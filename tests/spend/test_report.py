"""spend_report: periods, days in the team's time zone (daylight saving included), chart."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime
from typing import Any

import pytest

from jobs import ledger, services, spend_report
from jobs.views import spend_chart
from tests.spend.helpers import frozen_now, reported, submit

pytestmark = pytest.mark.django_db
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def test_offset_changes_are_found_to_the_instant() -> None:
    since = datetime(2025, 3, 28, tzinfo=PARIS)
    until = datetime(2025, 11, 1, tzinfo=PARIS)
    changes = spend_report.offset_changes(PARIS, since, until)
    assert changes == [
        (datetime(2025, 3, 30, 1, 0, tzinfo=UTC), 7200),
        (datetime(2025, 10, 26, 1, 0, tzinfo=UTC), 3600),
    ]


def test_days_follow_the_team_clock_across_daylight_saving(team: Any, user: Any) -> None:
    services.ensure_sandbox_accounts(team)
    team.time_zone = "Europe/Paris"
    team.save()
    moments = {  # UTC -> the Paris day it belongs to
        datetime(2025, 3, 29, 23, 30, tzinfo=UTC): date(2025, 3, 30),  # 00:30 CET
        datetime(2025, 3, 30, 21, 30, tzinfo=UTC): date(2025, 3, 30),  # 23:30 CEST
        datetime(2025, 3, 30, 22, 30, tzinfo=UTC): date(2025, 3, 31),  # 00:30 CEST
    }
    for moment in moments:
        with frozen_now(moment):
            job = submit(team, user, "aimlapi")[0]
            ledger.capture(job, reported(10_000))
    period = spend_report.period_for(team, start="2025-03-29", end="2025-03-31")
    report = spend_report.report(team, period)
    by_day = {day.day: day.usd_micros for day in report.by_day}
    assert by_day == {date(2025, 3, 29): 0, date(2025, 3, 30): 20_000, date(2025, 3, 31): 10_000}


def test_periods(team: Any) -> None:
    with frozen_now(datetime(2025, 3, 15, 12, tzinfo=UTC)):
        assert _days(spend_report.period_for(team)) == ("2025-03-01", "2025-03-15")
        assert _days(spend_report.period_for(team, "last-month")) == ("2025-02-01", "2025-02-28")
        assert _days(spend_report.period_for(team, "30d")) == ("2025-02-14", "2025-03-15")
        with pytest.raises(ValueError, match="before its start"):
            spend_report.period_for(team, start="2025-03-10", end="2025-03-01")
        with pytest.raises(ValueError, match="at most 366 days"):
            spend_report.period_for(team, start="2023-01-01", end="2025-01-01")


def _days(period: spend_report.Period) -> tuple[str, str]:
    return period.start.isoformat(), period.end.isoformat()


@pytest.mark.parametrize(
    ("micros", "step"),
    [(0, 10_000), (82_500, 100_000), (240_000, 250_000), (1_300_000, 2_000_000)],
)
def test_axis_steps_are_round(micros: int, step: int) -> None:
    assert spend_chart.nice_step(micros) == step


def test_bars_stack_providers_to_scale(team: Any) -> None:
    period = spend_report.period_for(team, start="2025-03-01", end="2025-03-02")
    days = [
        spend_report.Day(date(2025, 3, 1), 300_000, {"ideogram": 200_000, "aimlapi": 100_000}),
        spend_report.Day(date(2025, 3, 2), 0, {}),
    ]
    chart = spend_chart.build(days, period)
    first, empty = chart.bars
    assert [s.provider for s in first.segments] == ["aimlapi", "ideogram"]
    assert first.segments[1].height == pytest.approx(2 * first.segments[0].height, abs=0.02)
    assert first.segments[1].y == pytest.approx(chart.y_ticks[-1][0])  # the top tick is $0.30
    assert chart.y_ticks[-1][1] == "$0.30" and not empty.segments
    assert "provider=ideogram" in first.segments[1].href and "from=2025-03-01" in first.href


def test_anomalies_list_the_newest_and_count_them_all(team: Any, user: Any) -> None:
    from jobs.models import JobStatus, UpscaleJob

    services.ensure_sandbox_accounts(team)
    jobs = submit(team, user, "ideogram", count=spend_report.ANOMALY_ROWS + 3)
    UpscaleJob.objects.filter(team=team).update(status=JobStatus.UNKNOWN)
    found = spend_report.anomalies(team)
    assert found.unsettled_count == len(jobs) and found.charged_no_result_count == 0
    assert len(found.unsettled) == spend_report.ANOMALY_ROWS
    assert {job.amount_micros for job in found.unsettled} == {60_000}
    assert found.unsettled[0].pk == max(job.pk for job in jobs)
