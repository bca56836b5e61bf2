"""Each provider's refund rule, through the real engine with a scripted provider.

AI/ML API and Ideogram do not charge failed requests; Ideogram bills images it withholds
as unsafe; ImagineAPI takes credits when it accepts a job and gives them back if the job
fails; useapi and uwear document no refund, so a failed accepted job stays charged and
is listed for someone to check.
"""

from __future__ import annotations

from typing import Any

import pytest

from jobs import services, spend_report
from jobs.models import JobStatus
from jobs.providers.base import ErrorKind, ProviderError, ResultRef
from jobs.providers.registry import PROVIDERS
from tests.spend.helpers import (
    PNG,
    Scripts,
    accepted,
    done,
    failed,
    kinds,
    reported,
    run_to_end,
    running,
    scripted,
    spent,
    submit,
    transient,
    unknown,
    unsafe,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scripts(team: Any) -> Any:
    services.ensure_sandbox_accounts(team)
    with scripted(Scripts()) as found:
        yield found


def test_every_provider_states_its_rule() -> None:
    rules = {slug: cls.failed_job_charge for slug, cls in PROVIDERS.items()}
    assert rules == {
        "local": "free",
        "aimlapi": "free",
        "ideogram": "free",
        "imagineapi": "refunded",
        "useapi": "kept",
        "uwear": "kept",
    }
    assert [slug for slug, cls in PROVIDERS.items() if cls.bills_withheld_images] == ["ideogram"]


def test_aimlapi_charges_what_it_reports(team: Any, user: Any, scripts: Scripts) -> None:
    job = submit(team, user, "aimlapi")[0]
    scripts.plan(job, done(reported(58_000, 116_000)))
    job = run_to_end(job)
    assert job.status == JobStatus.SUCCEEDED
    assert kinds(job) == {"reserve": 60_000, "capture": 58_000, "release": 60_000}


def test_aimlapi_does_not_charge_a_failure(team: Any, user: Any, scripts: Scripts) -> None:
    job = submit(team, user, "aimlapi")[0]
    scripts.plan(job, transient(), failed())
    job = run_to_end(job)
    assert job.status == JobStatus.FAILED
    assert set(kinds(job)) == {"reserve", "release"} and spent(job) == 0


def test_ideogram_does_not_charge_a_failure(team: Any, user: Any, scripts: Scripts) -> None:
    job = submit(team, user, "ideogram")[0]
    scripts.plan(job, failed())
    assert run_to_end(job).status == JobStatus.FAILED
    assert spent(job) == 0


def test_ideogram_bills_images_withheld_as_unsafe(team: Any, user: Any, scripts: Scripts) -> None:
    job = submit(team, user, "ideogram", num_images=2)[0]
    scripts.plan(job, done(None, ResultRef(data=PNG), unsafe()))
    job = run_to_end(job)
    assert job.status == JobStatus.SUCCEEDED
    assert spent(job) == 2 * 60_000  # both images, the withheld one included
    only_unsafe = submit(team, user, "ideogram")[0]
    scripts.plan(only_unsafe, done(None, unsafe()))
    run_to_end(only_unsafe)
    assert spent(only_unsafe) == 60_000
    # Billed by the rule, so not an anomaly to chase.
    assert not spend_report.charged_without_result(team).exists()


def test_imagineapi_gives_credits_of_a_failed_job_back(
    team: Any, user: Any, scripts: Scripts
) -> None:
    job = submit(team, user, "imagineapi", scale="4x")[0]
    scripts.plan(job, accepted(), running(), failed())
    job = run_to_end(job)
    assert job.status == JobStatus.FAILED
    assert kinds(job) == {
        "reserve": 100_000,
        "capture": 100_000,
        "refund": 100_000,
        "release": 100_000,
    }
    assert spent(job) == 0


def test_imagineapi_charges_a_finished_job(team: Any, user: Any, scripts: Scripts) -> None:
    job = submit(team, user, "imagineapi", scale="2x")[0]
    scripts.plan(job, accepted(), done())
    assert run_to_end(job).status == JobStatus.SUCCEEDED
    assert spent(job) == 30_000


def test_imagineapi_refused_before_accepting_costs_nothing(
    team: Any, user: Any, scripts: Scripts
) -> None:
    job = submit(team, user, "imagineapi")[0]
    scripts.plan(job, ProviderError("Bad image id.", kind=ErrorKind.INPUT))
    assert run_to_end(job).status == JobStatus.FAILED
    assert set(kinds(job)) == {"reserve", "release"}


def test_useapi_keeps_the_forecast_cost_of_a_failed_job(
    team: Any, user: Any, scripts: Scripts
) -> None:
    job = submit(team, user, "useapi")[0]
    scripts.plan(job, accepted(reported(0, 40)), failed())
    job = run_to_end(job)
    assert job.status == JobStatus.FAILED
    assert set(kinds(job)) == {"reserve", "capture", "release"}
    assert list(spend_report.charged_without_result(team)) == [job]


def test_uwear_failure_after_accepting_is_counted_as_charged(
    team: Any, user: Any, scripts: Scripts
) -> None:
    job = submit(team, user, "uwear", model_name="topaz")[0]
    scripts.plan(job, accepted(), failed())
    job = run_to_end(job)
    assert job.status == JobStatus.FAILED
    capture = job.ledger.get(kind="capture")
    assert capture.credits == 3 and "keeps its credits" in capture.note
    assert list(spend_report.charged_without_result(team)) == [job]


def test_unknown_outcome_holds_until_someone_checks(team: Any, user: Any, scripts: Scripts) -> None:
    job = submit(team, user, "ideogram")[0]
    scripts.plan(job, unknown())
    job = run_to_end(job)
    assert job.status == JobStatus.UNKNOWN
    assert kinds(job) == {"reserve": 60_000}
    assert list(spend_report.never_settled(team)) == [job]


def test_a_kept_charge_with_no_known_price_records_nothing(
    team: Any, user: Any, scripts: Scripts
) -> None:
    job = submit(team, user, "useapi")[0]  # no forecastCost reported, no price set
    scripts.plan(job, accepted(), failed())
    assert run_to_end(job).status == JobStatus.FAILED
    assert set(kinds(job)) == {"reserve", "release"}
