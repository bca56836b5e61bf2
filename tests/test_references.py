"""The upload page can make a provider-side source image for sandbox reference providers."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from jobs import services
from sandbox import knobs
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def sandbox(settings: Any, live_server: Any, team: Any) -> Any:
    settings.SANDBOX_BASE_URL = live_server.url
    services.ensure_sandbox_accounts(team)
    knobs.set_knobs("imagineapi", async_seconds=1)
    knobs.set_knobs("useapi", async_seconds=1)
    return team


@pytest.mark.parametrize(
    ("slug", "field"), [("imagineapi", "ref_image_id"), ("useapi", "ref_jobid")]
)
def test_generate_fills_the_reference_and_reports_when_ready(
    alice: Any, sandbox: Any, slug: str, field: str
) -> None:
    page = alice.get(reverse("jobs:upload"), {"provider": slug}).content.decode()
    assert "Make a sandbox source image" in page

    response = alice.post(
        reverse("jobs:generate_reference"),
        {"provider": slug, "prompt": "red kite"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    value = re.search(rf'name="{field}" value="([^"]+)"', html)
    assert value, html
    generation_id = value.group(1)
    status_url = reverse("jobs:reference_status")

    def ready() -> bool:
        reply = alice.get(status_url, {"provider": slug, "id": generation_id})
        return reply.status_code == 286 and "is ready" in reply.content.decode()

    wait_until(ready, timeout=20, every=0.5)


def test_real_accounts_are_not_offered_generation(alice: Any, team: Any) -> None:
    page = alice.get(reverse("jobs:upload"), {"provider": "imagineapi"}).content.decode()
    assert "Make a sandbox source image" not in page
    response = alice.post(reverse("jobs:generate_reference"), {"provider": "imagineapi"})
    assert "Only sandbox accounts can generate" in response.content.decode()
