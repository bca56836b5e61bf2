"""Each provider end to end: a real worker, real HTTP to the sandbox, a stored result, a cost.

The sandbox runs inside the live test server; the worker process reaches it through the
outbound allow-list, exactly as `make run` does.
"""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image

from jobs import engine, services
from jobs.models import JobStatus, LedgerEntry, ProviderAccount, UpscaleJob
from jobs.providers.base import JobState
from jobs.providers.registry import get_provider_class
from sandbox import knobs
from tests.conftest import wait_until
from tests.factories import source

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]


@pytest.fixture
def sandbox_team(team: Any) -> Any:
    services.ensure_sandbox_accounts(team)
    for slug in ("useapi", "imagineapi", "uwear"):
        knobs.set_knobs(slug, async_seconds=1)
    return team


def sandbox_adapter(team: Any, slug: str) -> Any:
    account = ProviderAccount.objects.get(team=team, provider=slug)
    cls = get_provider_class(slug)
    return cls(api_key="sandbox-key", base_url=engine.account_base_url(account))


def provider_side_reference(team: Any, slug: str) -> dict[str, Any]:
    """Generate an image at the provider, as a real client would, and wait for it."""
    adapter = sandbox_adapter(team, slug)
    reference = adapter.generate_source("a lighthouse at dusk")
    job_id = reference.get("jobid") or reference.get("image_id")
    wait_until(lambda: adapter.poll(job_id).state == JobState.SUCCEEDED, timeout=30)
    return reference


def finished(job: UpscaleJob, worker: Any) -> UpscaleJob:
    try:
        wait_until(lambda: UpscaleJob.objects.get(pk=job.pk).is_finished, timeout=60, every=0.3)
    except AssertionError:
        pytest.fail(f"{job.provider} job did not finish. Worker log:\n{worker.log()}")
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED, (job.error_message, job.provider_message)
    return job


CASES = {
    # provider: (options, expected (width, height) of each result from a 64x48 upload)
    "aimlapi": ({"resolution": "2k"}, [(2048, 1536)]),
    "ideogram": ({"num_images": 2}, [(128, 96), (128, 96)]),
    "uwear": ({"model_name": "recraft"}, [(128, 96)]),
}


@pytest.mark.parametrize("slug", sorted(CASES))
def test_upload_providers_end_to_end(slug: str, sandbox_team: Any, user: Any, worker: Any) -> None:
    options, sizes = CASES[slug]
    spec = services.JobSpec(
        provider=slug, options=options, source=source(sandbox_team, user, size=(64, 48))
    )
    job = finished(services.submit_jobs(sandbox_team, user, [spec])[0], worker)
    assert_results(job, sizes)


@pytest.mark.parametrize(
    ("slug", "options", "size"),
    [
        ("useapi", {"upscaleResolution": "2k"}, (2048, 2048)),
        ("imagineapi", {"scale": "2x"}, (1024, 1024)),
    ],
)
def test_reference_providers_end_to_end(
    slug: str, options: dict, size: tuple[int, int], sandbox_team: Any, user: Any, worker: Any
) -> None:
    reference = provider_side_reference(sandbox_team, slug)
    spec = services.JobSpec(provider=slug, options=options, reference=reference)
    job = finished(services.submit_jobs(sandbox_team, user, [spec])[0], worker)
    assert job.provider_job_id and job.polls >= 1
    assert_results(job, [size])


def assert_results(job: UpscaleJob, sizes: list[tuple[int, int]]) -> None:
    results = list(job.results.order_by("index"))
    assert [(r.width, r.height) for r in results] == sizes
    for result in results:
        with result.file.open("rb") as fh, Image.open(fh) as image:
            assert image.size == (result.width, result.height)
        assert result.thumbnail
    captures = LedgerEntry.objects.filter(job=job, kind="capture")
    assert captures.count() == 1, "exactly one charge per job"
    source_of_cost, min_credits = EXPECTED_COST[job.provider]
    charge = captures.get()
    assert charge.source == source_of_cost
    assert charge.credits >= min_credits


# Where each provider's cost comes from, and the least it can be (useapi's sandbox, like the
# seed document, reports a forecastCost of 0).
EXPECTED_COST = {
    "aimlapi": ("reported", 1),
    "ideogram": ("price_table", 2),
    "uwear": ("price_table", 1),
    "useapi": ("reported", 0),
    "imagineapi": ("price_table", 3),
}
