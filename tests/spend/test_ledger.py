"""jobs.ledger: append-only entries, one per job and kind, and budgets kept in step."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone

from jobs import ledger, services, spend
from jobs.models import BudgetUsage, JobStatus, LedgerEntry, ProviderAccount, UpscaleJob
from tests.spend.helpers import budget, kinds, reported, submit, used

pytestmark = pytest.mark.django_db

IDEOGRAM = 60_000  # $0.06 per image, the documented default


@pytest.fixture
def accounts(team: Any) -> None:
    services.ensure_sandbox_accounts(team)


def test_submit_reserves_the_price_table_estimate(team: Any, user: Any, accounts: None) -> None:
    job = submit(team, user, "ideogram", num_images=3)[0]
    assert kinds(job) == {"reserve": 3 * IDEOGRAM}
    entry = LedgerEntry.objects.get(job=job)
    assert entry.source == "price_table" and entry.credits == 3 and entry.user_id == user.pk


def test_one_capture_per_job_however_often_it_is_reported(
    team: Any, user: Any, accounts: None
) -> None:
    job = submit(team, user, "aimlapi")[0]
    first = ledger.capture(job, reported(60_000, 120_000))
    assert first is not None
    assert ledger.capture(job, reported(90_000, 180_000)) is None  # a late webhook, a retry
    assert ledger.release(job) is not None
    assert ledger.release(job) is None
    assert LedgerEntry.objects.filter(job=job).count() == 3
    assert kinds(job)["capture"] == 60_000


def test_capture_replaces_the_hold_in_the_budget(team: Any, user: Any, accounts: None) -> None:
    team_budget = budget(team, "10")
    job = submit(team, user, "aimlapi", resolution="4k")[0]
    assert used(team_budget) == 60_000
    ledger.capture(job, reported(75_000))  # cost more than estimated
    assert used(team_budget) == 75_000
    ledger.release(job)
    assert used(team_budget) == 75_000  # the charge stays, the hold is gone
    ledger.refund(job, "Support gave it back")
    assert used(team_budget) == 0


def test_release_without_a_charge_frees_the_budget(team: Any, user: Any, accounts: None) -> None:
    team_budget = budget(team, "10")
    job = submit(team, user, "ideogram")[0]
    ledger.release(job)
    assert used(team_budget) == 0
    assert ledger.refund(job, "nothing to refund") is None  # never negative


def test_reported_credits_without_dollars_use_the_table_rate(
    team: Any, user: Any, accounts: None
) -> None:
    account = ProviderAccount.objects.get(team=team, provider="useapi")
    prices = {"2k": Decimal(10), "4k": Decimal(20), "8k": Decimal(40)}
    spend.set_prices(account, user, prices, Decimal(5_000), timezone.now())
    job = submit(team, user, "useapi")[0]
    assert kinds(job) == {"reserve": 20 * 5_000}
    ledger.capture(job, reported(0, 30))  # useapi's forecastCost: Dreamina credits only
    assert kinds(job)["capture"] == 30 * 5_000


def test_usage_never_goes_negative(team: Any, user: Any, accounts: None) -> None:
    team_budget = budget(team, "10")
    job = submit(team, user, "ideogram")[0]
    BudgetUsage.objects.update(used_micros=0)  # e.g. a row someone reset by hand
    ledger.release(job)
    assert used(team_budget) == 0


def test_soft_threshold_mails_once_a_month(
    team: Any, user: Any, accounts: None, settings: Any
) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    user.email = "alice@example.com"
    user.save()
    budget(team, "0.20", warn=50)
    with TestCase.captureOnCommitCallbacks(execute=True):
        submit(team, user, "ideogram")  # 30 %
        assert mail.outbox == []
        submit(team, user, "ideogram")  # 60 %: crosses 50 %
        submit(team, user, "ideogram")  # 90 %: already warned this month
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.com"]
    assert "Team budget" in message.subject and "60%" in message.subject
    assert "$0.12 of its $0.20" in message.body


def test_unknown_outcome_keeps_its_hold_until_resolved(
    team: Any, user: Any, other_user: Any, accounts: None
) -> None:
    team_budget = budget(team, "10")
    job = submit(team, user, "ideogram")[0]
    UpscaleJob.objects.filter(pk=job.pk).update(status=JobStatus.UNKNOWN)
    ledger.settle(job, JobStatus.UNKNOWN)
    assert kinds(job) == {"reserve": IDEOGRAM}
    job.refresh_from_db()
    assert ledger.resolve_unknown(job, charged=True, user=user)
    assert not ledger.resolve_unknown(job, charged=False, user=user)  # settled once
    assert set(kinds(job)) == {"reserve", "capture", "release"}
    assert used(team_budget) == IDEOGRAM
