"""The spend pages: dashboard, drill-down, CSV, live estimate, budgets, prices, anomalies."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from jobs import ledger, services, spend, spend_report
from jobs.models import Budget, JobStatus, PriceEntry, UpscaleJob
from tests.spend.helpers import (
    Scripts,
    accepted,
    budget,
    failed,
    kinds,
    reported,
    run_to_end,
    scripted,
    spec_for,
    submit,
)

pytestmark = pytest.mark.django_db
DASHBOARD = reverse("jobs:spend_dashboard")


@pytest.fixture(autouse=True)
def accounts(team: Any) -> None:
    services.ensure_sandbox_accounts(team)


def charged_jobs(team: Any, user: Any, provider: str, count: int) -> list[UpscaleJob]:
    with scripted(Scripts()):
        return [run_to_end(job) for job in submit(team, user, provider, count=count)]


def member(team: Any, person: Any, role: str = "member") -> Any:
    team.memberships.create(user=person, role=role)
    return person


# ----- dashboard ----------------------------------------------------------------------------
def test_dashboard_shows_totals_chart_and_links(alice: Any, team: Any, user: Any) -> None:
    charged_jobs(team, user, "ideogram", 2)
    charged_jobs(team, user, "imagineapi", 1)
    page = alice.get(DASHBOARD)
    body = page.content.decode()
    assert page.status_code == 200
    assert 'data-testid="spend-total">$0.15<' in body  # 2 x $0.06 + 3 ImagineAPI credits
    assert "<svg" in body and "Spend per day" in body and "<rect" in body
    assert "Ideogram" in body and "ImagineAPI" in body and "alice" in body
    assert "/jobs/?provider=ideogram&amp;from=" in body
    assert "Nothing to check" in body


def test_query_count_does_not_grow_with_the_data(alice: Any, team: Any, user: Any) -> None:
    charged_jobs(team, user, "ideogram", 1)
    with CaptureQueriesContext(connection) as few:
        alice.get(DASHBOARD)
    charged_jobs(team, user, "ideogram", 6)
    charged_jobs(team, user, "aimlapi", 3)
    with scripted(Scripts()) as scripts:
        job = submit(team, user, "uwear")[0]
        scripts.plan(job, accepted(), failed())  # an anomaly to list
        run_to_end(job)
    with CaptureQueriesContext(connection) as many:
        alice.get(DASHBOARD)
    assert len(many) == len(few)


def test_htmx_period_change_returns_the_body_only(alice: Any) -> None:
    page = alice.get(DASHBOARD + "?preset=90d", HTTP_HX_REQUEST="true")
    body = page.content.decode()
    assert body.lstrip().startswith('<div id="spend-body">') and "<html" not in body
    assert page["Vary"] == "HX-Request, Cookie" or "HX-Request" in page["Vary"]


def test_unusable_dates_fall_back_to_this_month(alice: Any) -> None:
    page = alice.get(DASHBOARD + "?from=2025-02-30", follow=True)
    assert page.status_code == 200
    assert "From must be a date like 2025-01-31" in page.content.decode()


def test_other_teams_spend_is_not_shown(
    alice: Any, team: Any, other_team: Any, other_user: Any
) -> None:
    services.ensure_sandbox_accounts(other_team)
    charged_jobs(other_team, other_user, "ideogram", 3)
    body = alice.get(DASHBOARD).content.decode()
    assert 'data-testid="spend-total">$0.00<' in body and "mallory" not in body


# ----- drill-down -----------------------------------------------------------------------------
def test_each_figure_links_to_the_jobs_behind_it(
    alice: Any, team: Any, user: Any, other_user: Any
) -> None:
    member(team, other_user)
    mine = charged_jobs(team, user, "ideogram", 2)
    theirs = charged_jobs(team, other_user, "aimlapi", 1)
    waiting = submit(team, user, "ideogram")  # reserved, not run yet
    today = spend_report.period_for(team).end.isoformat()
    cases = {
        f"?provider=ideogram&from={today}&to={today}": mine,
        f"?user={other_user.pk}": theirs,
        "?from=2001-01-01&to=2001-01-31": [],
        "?money=held": waiting,
    }
    for query, expected in cases.items():
        body = alice.get(reverse("jobs:job_list") + query).content.decode()
        shown = {job.public_id for job in UpscaleJob.objects.all() if str(job.public_id) in body}
        assert shown == {job.public_id for job in expected}, query


def test_anomalies_are_listed_and_drill_down(alice: Any, team: Any, user: Any) -> None:
    with scripted(Scripts()) as scripts:
        job = submit(team, user, "uwear")[0]
        scripts.plan(job, accepted(), failed())
        run_to_end(job)
    body = alice.get(DASHBOARD).content.decode()
    assert "Charged but no result" in body and str(job.public_id)[:8] in body
    listed = alice.get(reverse("jobs:job_list") + "?money=charged-no-result").content.decode()
    assert str(job.public_id) in listed


# ----- CSV ------------------------------------------------------------------------------------
def test_csv_export_streams_the_period_and_adds_up(alice: Any, team: Any, user: Any) -> None:
    charged_jobs(team, user, "ideogram", 3)
    job = submit(team, user, "aimlapi")[0]
    ledger.capture(job, reported(55_000, 110_000))
    ledger.refund(job, "=HYPERLINK(evil)")
    response = alice.get(reverse("jobs:spend_export") + "?preset=month")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert "attachment;" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 3 * 3 + 3
    signed = {"capture": 1, "refund": -1}
    spent = sum(signed.get(r["kind"], 0) * Decimal(r["usd"]) for r in rows)
    report = spend_report.report(team, spend_report.period_for(team))
    assert spent * 1_000_000 == report.total_micros == 3 * 60_000
    assert next(r for r in rows if r["kind"] == "refund")["note"].startswith("'=")


# ----- estimate -------------------------------------------------------------------------------
def test_estimate_counts_images_options_and_budgets(alice: Any, team: Any, user: Any) -> None:
    budget(team, "0.50")
    sources = [spec_for(team, user, "ideogram").source for _ in range(3)]
    query = "&".join(f"source_ids={s.pk}" for s in sources)
    url = reverse("jobs:spend_estimate") + f"?provider=ideogram&opt_num_images=2&{query}"
    body = alice.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="estimate-total">$0.36<' in body  # 3 images x 2 variations x $0.06
    assert "$0.50" in body and "$0.14" in body  # left now, left after
    over = alice.get(url.replace("num_images=2", "num_images=3"), HTTP_HX_REQUEST="true")
    assert "would be refused" in over.content.decode()


def test_estimate_explains_bad_options_and_is_a_real_page(alice: Any) -> None:
    url = reverse("jobs:spend_estimate") + "?provider=ideogram&opt_num_images=99"
    body = alice.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Fix the options to see the cost: num_images" in body
    page = alice.get(reverse("jobs:spend_estimate")).content.decode()
    assert "<html" in page and "Cost estimate" in page


def test_estimate_of_a_reference_provider_is_one_job(alice: Any) -> None:
    url = reverse("jobs:spend_estimate") + "?provider=imagineapi&opt_scale=6x&ref_image_id=x"
    body = alice.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert 'data-testid="estimate-total">$0.35<' in body


def test_upload_page_asks_for_the_live_estimate(alice: Any) -> None:
    body = alice.get(reverse("jobs:upload")).content.decode()
    assert f'hx-get="{reverse("jobs:spend_estimate")}"' in body
    assert 'hx-trigger="change from:#upload-form, load"' in body


# ----- budgets, prices, warnings ----------------------------------------------------------------
def test_owner_sets_and_removes_a_budget(alice: Any, team: Any) -> None:
    url = reverse("jobs:spend_budgets")
    posted = alice.post(
        url, {"scope": "provider", "provider": "ideogram", "limit": "25", "warn_percent": 75}
    )
    assert posted.status_code == 302
    saved = Budget.objects.get(team=team)
    assert (saved.monthly_limit_micros, saved.warn_percent) == (25_000_000, 75)
    missing = alice.post(url, {"scope": "user", "limit": "5", "warn_percent": 80})
    assert missing.status_code == 400 and "Choose the person" in missing.content.decode()
    alice.post(reverse("jobs:spend_budget_remove", args=[saved.pk]))
    assert not Budget.objects.exists()


def test_members_see_budgets_but_cannot_change_them(
    client: Any, team: Any, other_user: Any
) -> None:
    client.force_login(member(team, other_user))
    assert client.get(reverse("jobs:spend_budgets")).status_code == 200
    refused = client.post(
        reverse("jobs:spend_budgets"),
        {"scope": "team", "limit": "1000", "warn_percent": 80},
        HTTP_ACCEPT="text/html",
    )
    assert refused.status_code == 403 and not Budget.objects.exists()
    prices = client.post(reverse("jobs:spend_prices"), {"account": "1"}, HTTP_ACCEPT="text/html")
    assert prices.status_code == 403


def test_owner_changes_prices_from_a_date(alice: Any, team: Any) -> None:
    table = next(t for t in spend.price_tables(team) if t.account.provider == "imagineapi")
    data = {f"credits_{key}": "5" for key in table.current}
    data |= {"account": table.account.pk, "usd_per_credit": "0.02", "valid_from": ""}
    assert alice.post(reverse("jobs:spend_prices"), data).status_code == 302
    rows = PriceEntry.objects.filter(account=table.account)
    assert rows.count() == 6 and {r.usd_micros_per_credit for r in rows} == {Decimal(20_000)}
    page = alice.get(reverse("jobs:spend_prices")).content.decode()
    assert "History (6 rows)" in page and "$0.02" in page
    team.time_zone = "America/New_York"
    team.save()
    data |= {"valid_from": "2031-07-01T09:00"}  # typed in the team's clock
    alice.post(reverse("jobs:spend_prices"), data)
    later = PriceEntry.objects.filter(account=table.account).latest("valid_from")
    assert later.valid_from.isoformat() == "2031-07-01T13:00:00+00:00"


def test_warning_banner_on_every_page(alice: Any, team: Any, user: Any) -> None:
    budget(team, "0.10", warn=50)
    submit(team, user, "ideogram")
    body = alice.get(reverse("jobs:job_list")).content.decode()
    assert "Team budget is 60% used" in body


def test_owner_settles_an_unknown_job(alice: Any, team: Any, user: Any, other_team: Any) -> None:
    job = submit(team, user, "ideogram")[0]
    UpscaleJob.objects.filter(pk=job.pk).update(status=JobStatus.UNKNOWN)
    url = reverse("jobs:spend_settle_job", args=[job.public_id])
    response = alice.post(url, {"action": "not-charged", "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == DASHBOARD
    assert set(kinds(job)) == {"reserve", "release"}
    services.ensure_sandbox_accounts(other_team)
    stranger = submit(other_team, other_team.memberships.get().user, "ideogram")[0]
    url = reverse("jobs:spend_settle_job", args=[stranger.public_id])
    assert alice.post(url, {"action": "charged"}).status_code == 404
