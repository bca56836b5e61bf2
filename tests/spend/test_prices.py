"""Price tables: dated rows per account, documented defaults, credits converted to dollars."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from jobs import ledger, services, spend, spend_report
from jobs.models import PriceEntry, ProviderAccount
from jobs.providers.registry import get_provider_class
from tests.spend.helpers import Scripts, done, frozen_now, kinds, run_to_end, scripted, submit

pytestmark = pytest.mark.django_db


@pytest.fixture
def accounts(team: Any) -> dict[str, ProviderAccount]:
    return {a.provider: a for a in services.ensure_sandbox_accounts(team)}


@pytest.mark.parametrize(
    ("provider", "options", "usd_micros"),
    [
        ("aimlapi", {"resolution": "2k"}, 60_000),  # 120,000 credits at 2,000,000 per dollar
        ("imagineapi", {"scale": "4x"}, 100_000),  # 10 credits at $0.01
        ("imagineapi", {"scale": "12x"}, 1_000_000),  # 100 credits
        ("ideogram", {"num_images": 4}, 240_000),  # per image
        ("uwear", {"model_name": "topaz"}, 0),  # a uwear credit's price is not published
        ("local", {"scale": 2}, 0),
    ],
)
def test_documented_defaults(provider: str, options: dict, usd_micros: int) -> None:
    cls = get_provider_class(provider)
    assert spend.job_cost(cls, cls.clean_options(options), None).usd_micros == usd_micros


def test_uwear_credit_price_is_configurable(
    team: Any, user: Any, accounts: dict[str, ProviderAccount]
) -> None:
    spend.set_prices(
        accounts["uwear"],
        user,
        {"recraft": Decimal(1), "topaz": Decimal(3)},
        Decimal(40_000),  # $0.04 a credit
        timezone.now(),
    )
    job = submit(team, user, "uwear", model_name="topaz")[0]
    assert kinds(job) == {"reserve": 120_000}


def test_the_row_in_force_is_the_latest_not_in_the_future(
    user: Any, accounts: dict[str, ProviderAccount]
) -> None:
    account = accounts["imagineapi"]
    cls = get_provider_class("imagineapi")
    now = timezone.now()
    for days, credits in ((-10, 4), (-2, 5), (+3, 9)):
        spend.set_prices(
            account, user, {"2x": Decimal(credits)}, Decimal(10_000), now + timedelta(days)
        )
    assert spend.price_of(cls, "2x", account.pk).credits == 5
    assert spend.price_of(cls, "2x", account.pk, now - timedelta(days=5)).credits == 4
    assert spend.price_of(cls, "4x", account.pk).is_default  # keys never set keep the default


def test_a_price_change_does_not_rewrite_past_spend(
    team: Any, user: Any, accounts: dict[str, ProviderAccount]
) -> None:
    account = accounts["ideogram"]
    before = timezone.now() - timedelta(days=3)
    with scripted(Scripts()), frozen_now(before):
        old_job = run_to_end(submit(team, user, "ideogram")[0])  # $0.06, the default
    spend.set_prices(account, user, {"default": Decimal(1)}, Decimal(100_000), timezone.now())
    with scripted(Scripts()):
        new_job = run_to_end(submit(team, user, "ideogram")[0])
    assert kinds(old_job)["capture"] == 60_000
    assert kinds(new_job)["capture"] == 100_000
    assert PriceEntry.objects.filter(account=account).count() == 1
    period = spend_report.period_for(team, "30d")
    report = spend_report.report(team, period)
    assert report.total_micros == 160_000
    old_day = next(d for d in report.by_day if d.day == before.astimezone(period.zone).date())
    assert old_day.usd_micros == 60_000


def test_price_table_costs_reported_by_adapters_are_repriced(
    team: Any, user: Any, accounts: dict[str, ProviderAccount]
) -> None:
    """Ideogram reports "n images at list price"; the team's table sets what an image costs."""
    spend.set_prices(
        accounts["ideogram"], user, {"default": Decimal(1)}, Decimal(80_000), timezone.now()
    )
    job = submit(team, user, "ideogram", num_images=3)[0]
    cls = get_provider_class("ideogram")
    listed = cls().estimate({"num_images": 2})  # two of the three came back
    ledger.capture(job, listed)
    assert kinds(job)["capture"] == 160_000


def test_price_tables_list_every_account_with_history(
    team: Any, user: Any, accounts: dict[str, ProviderAccount]
) -> None:
    spend.set_prices(
        accounts["aimlapi"], user, {"2k": Decimal(100_000)}, Decimal("0.5"), timezone.now()
    )
    tables = {t.account.provider: t for t in spend.price_tables(team)}
    assert set(tables) == {"aimlapi", "ideogram", "imagineapi", "useapi", "uwear"}
    aiml = tables["aimlapi"]
    assert aiml.current["2k"].usd_micros == 50_000 and not aiml.current["2k"].is_default
    assert aiml.current["4k"].is_default and len(aiml.history) == 1
    assert aiml.history[0].usd_per_credit == "0.0000005"


def test_with_no_prices_set_the_class_rate_shows(
    accounts: dict[str, ProviderAccount], team: Any
) -> None:
    tables = {t.account.provider: t for t in spend.price_tables(team)}
    assert spend.dollars_text(tables["aimlapi"].usd_micros_per_credit) == "0.0000005"
    assert spend.dollars_text(tables["imagineapi"].usd_micros_per_credit) == "0.01"
    assert not done().error
