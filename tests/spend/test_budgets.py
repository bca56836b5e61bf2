"""Budgets at submit: a batch that does not fit is refused whole, saying why."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from jobs import ledger, services
from jobs.models import Batch, BudgetUsage, LedgerEntry, UpscaleJob
from jobs.providers.base import Cost
from tests.spend.helpers import budget, frozen_now, submit, used

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def accounts(team: Any) -> None:
    services.ensure_sandbox_accounts(team)


def test_refused_batch_says_which_budget_what_is_left_and_what_was_needed(
    team: Any, user: Any
) -> None:
    budget(team, "0.20")
    submit(team, user, "ideogram", count=2)  # $0.12 of $0.20
    jobs_before, batches_before = UpscaleJob.objects.count(), Batch.objects.count()
    with pytest.raises(services.BudgetExceeded) as refused:
        submit(team, user, "ideogram", count=2)  # needs $0.12, $0.08 left
    error = refused.value
    assert error.budget == "Team budget"
    assert error.remaining_micros == 80_000 and error.needed_micros == 120_000
    assert "Team budget has $0.08 left" in error.message and "needs $0.12" in error.message
    assert UpscaleJob.objects.count() == jobs_before
    assert Batch.objects.count() == batches_before
    assert LedgerEntry.objects.count() == 2


def test_provider_and_user_budgets_only_count_their_jobs(
    team: Any, user: Any, other_user: Any
) -> None:
    team.memberships.create(user=other_user, role="member")
    ideogram = budget(team, "0.10", provider="ideogram")
    mine = budget(team, "1", user_id=user.pk)
    submit(team, user, "aimlapi")  # not an Ideogram job
    submit(team, other_user, "ideogram")  # not mine
    assert used(ideogram) == 60_000
    assert used(mine) == 60_000
    with pytest.raises(services.BudgetExceeded) as refused:
        submit(team, user, "ideogram")
    assert refused.value.budget == "Ideogram budget"


def test_whole_batch_is_checked_not_each_job(team: Any, user: Any) -> None:
    budget(team, "0.30")
    with pytest.raises(services.BudgetExceeded):
        submit(team, user, "ideogram", count=6)  # $0.36: no part of it is queued
    assert UpscaleJob.objects.count() == 0
    assert len(submit(team, user, "ideogram", count=5)) == 5  # exactly the limit


def test_free_jobs_pass_a_spent_budget(team: Any, user: Any) -> None:
    budget(team, "0.06")
    submit(team, user, "ideogram")
    assert len(submit(team, user, "local", count=2)) == 2


def test_a_budget_added_mid_month_counts_the_spend_so_far(team: Any, user: Any) -> None:
    job = submit(team, user, "aimlapi")[0]
    ledger.capture(job, Cost(credits=0, usd_micros=50_000, source="reported"))
    ledger.release(job)
    submit(team, user, "ideogram")  # still held
    team_budget = budget(team, "1")
    assert used(team_budget) == 50_000 + 60_000


def test_changing_a_limit_keeps_the_usage(team: Any, user: Any) -> None:
    budget(team, "0.10")
    submit(team, user, "ideogram")
    raised = budget(team, "0.20")
    assert BudgetUsage.objects.get(budget=raised).used_micros == 60_000
    assert len(submit(team, user, "ideogram", count=2)) == 2


def test_months_are_counted_in_the_team_time_zone(team: Any, user: Any) -> None:
    team.time_zone = "Pacific/Auckland"  # UTC+13 in January
    team.save()
    team_budget = budget(team, "1")
    # 20:00 UTC on Jan 31 is already Feb 1 in Auckland.
    with frozen_now(datetime(2025, 1, 31, 20, 0, tzinfo=UTC)):
        submit(team, user, "ideogram")
    row = BudgetUsage.objects.get(budget=team_budget, used_micros=60_000)
    assert row.month == date(2025, 2, 1)
