"""GET /api/v1/providers and GET /api/v1/spend."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from jobs import ledger, services
from jobs.models import LedgerEntry, Membership, Role, UpscaleJob
from jobs.providers.base import Cost
from jobs.providers.registry import PROVIDERS
from tests.api.conftest import ApiClient, error_of
from tests.factories import local_job

pytestmark = pytest.mark.django_db


def test_providers_list_input_kinds_options_and_limits(api: ApiClient, team: Any) -> None:
    services.ensure_sandbox_accounts(team)
    body = api.get("/api/v1/providers").json()
    by_slug = {p["slug"]: p for p in body["providers"]}
    assert list(by_slug) == list(PROVIDERS)
    assert by_slug["local"]["input_kinds"] == ["upload"]
    assert by_slug["local"]["options"][0]["name"] == "scale"
    assert by_slug["local"]["options"][0]["choices"] == [2, 3, 4]
    assert by_slug["useapi"]["input_kinds"] == ["reference"]
    assert {f["name"] for f in by_slug["useapi"]["reference_fields"]} >= {"jobid"}
    assert "uploaded images" in by_slug["useapi"]["cannot_take"]
    assert by_slug["aimlapi"]["account"] == {"needed": True, "configured": True, "sandbox": True}
    assert "JPEG" in by_slug["aimlapi"]["limits"]["formats"]


def test_providers_show_a_missing_account(api: ApiClient) -> None:
    by_slug = {p["slug"]: p for p in api.get("/api/v1/providers").json()["providers"]}
    assert by_slug["ideogram"]["account"]["configured"] is False


def charge(job: UpscaleJob, provider: str, usd_micros: int, credits: str = "1") -> None:
    UpscaleJob.objects.filter(pk=job.pk).update(provider=provider)
    job.provider = provider
    ledger.capture(job, Cost(credits=Decimal(credits), usd_micros=usd_micros, source="reported"))


def test_spend_totals_by_provider_user_and_day(
    api: ApiClient, team: Any, user: Any, django_user_model: Any
) -> None:
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    Membership.objects.create(team=team, user=bob, role=Role.MEMBER)
    charge(local_job(team, user), "aimlapi", 30_000)
    charge(local_job(team, bob), "aimlapi", 20_000)
    refunded = local_job(team, bob)
    charge(refunded, "ideogram", 100_000, "4")
    ledger.refund(refunded, "provider refunded a failed job")
    yesterday = local_job(team, user)
    charge(yesterday, "uwear", 5_000)
    LedgerEntry.objects.filter(job=yesterday).update(created_at=timezone.now() - timedelta(days=1))
    today = timezone.now().date()
    since = (today - timedelta(days=2)).isoformat()
    body = api.get("/api/v1/spend", {"from": since, "to": today.isoformat()}).json()
    assert body["total"]["usd_micros"] == 55_000
    providers = {row["provider"]: row for row in body["by_provider"]}
    assert providers["aimlapi"]["usd_micros"] == 50_000 and providers["aimlapi"]["jobs"] == 2
    assert providers["ideogram"]["usd_micros"] == 0 and providers["ideogram"]["credits"] == "0.0000"
    users = {row["user"]: row["usd_micros"] for row in body["by_user"]}
    assert users == {"alice": 35_000, "bob": 20_000}
    days = {row["day"]: row["usd_micros"] for row in body["by_day"]}
    assert days[today.isoformat()] == 50_000
    assert days[(today - timedelta(days=1)).isoformat()] == 5_000
    assert body["period"] == {"from": since, "to": today.isoformat(), "time_zone": "UTC"}


def test_spend_defaults_to_this_month_and_ignores_other_teams(
    api: ApiClient, other_team: Any, other_user: Any
) -> None:
    charge(local_job(other_team, other_user), "aimlapi", 70_000)
    body = api.get("/api/v1/spend").json()
    assert body["total"]["usd_micros"] == 0 and body["by_provider"] == []
    assert body["period"]["from"].endswith("-01")


@pytest.mark.parametrize(
    "params",
    [{"from": "last week"}, {"to": "2025-13-01"}, {"from": "2025-02-01", "to": "2025-01-01"},
     {"from": "2020-01-01", "to": "2025-01-01"}],
)  # fmt: skip
def test_bad_spend_periods_are_400(api: ApiClient, params: dict[str, str]) -> None:
    response = api.get("/api/v1/spend", params)
    assert response.status_code == 400
    assert error_of(response)["code"] == "invalid_request"


def test_viewers_can_read(viewer_api: ApiClient) -> None:
    for path in ["/api/v1/jobs", "/api/v1/providers", "/api/v1/spend"]:
        assert viewer_api.get(path).status_code == 200, path
