"""The real provider adapters, unchanged, against the sandbox over real HTTP.

This is what the sandbox is for: if an adapter and its fake disagree about a field name,
a status word or an error shape, it shows up here. Results are fetched the way the engine
fetches them (jobs.outbound.download, guard and allow-list included).
"""

from __future__ import annotations

from typing import Any

import pytest
from PIL import Image

from jobs import outbound
from jobs.engine import sandbox_path
from jobs.providers.base import InputKind, JobRequest, JobState, Outcome, SourceInput
from jobs.providers.registry import get_provider_class
from sandbox import knobs
from tests.conftest import image_bytes
from tests.sandbox.conftest import age


@pytest.fixture
def adapter(live_server: Any, settings: Any):
    # The outbound guard lets the sandbox origin through by SANDBOX_BASE_URL only.
    settings.SANDBOX_BASE_URL = live_server.url

    def make(slug: str) -> Any:
        cls = get_provider_class(slug)
        return cls(api_key="k", base_url=f"{live_server.url}/sandbox/{slug}{sandbox_path(cls)}")

    return make


def request(source: SourceInput, **options: Any) -> JobRequest:
    return JobRequest(job_id="0b0e7f5c-job", options=options, source=source)


def upload(size: tuple[int, int] = (40, 30)) -> SourceInput:
    return SourceInput(
        kind=InputKind.UPLOAD, data=image_bytes("PNG", size), content_type="image/png"
    )


def finish(provider: Any, outcome: Outcome) -> Outcome:
    """Poll an async job to its end, aging it instead of waiting."""
    for _ in range(3):
        if outcome.state != JobState.RUNNING:
            return outcome
        age(10)
        outcome = provider.poll(outcome.provider_job_id)
    return outcome


def size_of(ref: Any) -> tuple[int, int]:
    fetched = outbound.download(ref.url, max_bytes=50_000_000, deadline_seconds=30)
    with Image.open(fetched.file) as image:
        return image.size


def test_aimlapi(adapter):
    provider = adapter("aimlapi")
    provider.check_connection()

    outcome = provider.submit(request(upload(), resolution="2k"))

    assert outcome.state == JobState.SUCCEEDED
    assert outcome.cost.usd_micros == 60_000
    assert size_of(outcome.results[0]) == (2048, 1536)


def test_ideogram(adapter):
    provider = adapter("ideogram")
    provider.check_connection()

    outcome = provider.submit(request(upload(), num_images=2))

    assert [size_of(ref) for ref in outcome.results] == [(80, 60), (80, 60)]


def test_useapi_generation_then_upscale(adapter):
    provider = adapter("useapi")
    provider.check_connection()
    reference = provider.generate_source("a fox")
    age(10)

    source = SourceInput(kind=InputKind.REFERENCE, reference=reference)
    outcome = finish(provider, provider.submit(request(source, upscaleResolution="2k")))

    assert outcome.state == JobState.SUCCEEDED, outcome.error
    assert size_of(outcome.results[0]) == (2048, 2048)


def test_useapi_failure_is_reported(adapter):
    provider = adapter("useapi")
    reference = provider.generate_source("a fox")
    age(10)
    knobs.set_knobs("useapi", failure_rate=1.0)

    source = SourceInput(kind=InputKind.REFERENCE, reference=reference)
    outcome = finish(provider, provider.submit(request(source)))

    assert outcome.state == JobState.FAILED
    assert "fail_code" in outcome.error.provider_message


def test_imagineapi_generation_then_enhance(adapter):
    provider = adapter("imagineapi")
    provider.check_connection()
    reference = provider.generate_source("a lighthouse")
    age(10)

    source = SourceInput(kind=InputKind.REFERENCE, reference=reference)
    outcome = finish(provider, provider.submit(request(source, scale="2x")))

    assert outcome.state == JobState.SUCCEEDED, outcome.error
    assert size_of(outcome.results[0]) == (1024, 1024)


def test_uwear_public_url_then_result_id(adapter, live_server):
    provider = adapter("uwear")
    provider.check_connection()
    own = adapter("ideogram").submit(request(upload((30, 20)))).results[0].url
    source = SourceInput(kind=InputKind.PUBLIC_URL, public_url=own)

    first = finish(provider, provider.submit(request(source, model_name="recraft")))
    assert first.state == JobState.SUCCEEDED, first.error
    assert size_of(first.results[0]) == (120, 80)

    from sandbox.models import SandboxResult

    result_id = SandboxResult.objects.filter(job__provider="uwear").get().pk
    chained = SourceInput(kind=InputKind.REFERENCE, reference={"generation_result_id": result_id})
    options = {"model_name": "topaz", "upscale_factor": "2x"}
    second = finish(provider, provider.submit(request(chained, **options)))
    assert second.state == JobState.SUCCEEDED, second.error
    assert size_of(second.results[0]) == (240, 160)


@pytest.mark.parametrize(
    ("slug", "knob", "kind"),
    [
        ("aimlapi", {"rate_limit_next": 1, "retry_after_seconds": 7}, "transient"),
        ("aimlapi", {"out_of_credits": True}, "account"),
        ("ideogram", {"out_of_credits": True}, "account"),
        ("useapi", {"account_broken": True}, "account"),
        ("imagineapi", {"server_errors_next": 1}, "transient"),
        ("uwear", {"malformed": True}, "unknown_outcome"),
    ],
)
def test_knobs_reach_the_adapters_as_the_right_error_kind(adapter, slug, knob, kind):
    from jobs.providers.base import ProviderError

    provider = adapter(slug)
    source = {
        "aimlapi": upload(),
        "ideogram": upload(),
        "useapi": SourceInput(kind=InputKind.REFERENCE, reference={"jobid": "j1:x@y:dreamina"}),
        "imagineapi": SourceInput(
            kind=InputKind.REFERENCE,
            reference={"image_id": "00000000-0000-0000-0000-000000000001", "index": 0},
        ),
        "uwear": SourceInput(kind=InputKind.PUBLIC_URL, public_url="http://127.0.0.1:9/x.png"),
    }[slug]
    knobs.set_knobs(slug, **knob)

    with pytest.raises(ProviderError) as caught:
        provider.submit(request(source))

    assert caught.value.kind == kind
    if "retry_after_seconds" in knob:
        assert caught.value.retry_after == 7
