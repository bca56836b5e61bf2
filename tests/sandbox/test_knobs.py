"""The fault knobs, as the fault tests and curious users turn them."""

from __future__ import annotations

import json
import time

import pytest

from sandbox import knobs, log
from sandbox.models import SandboxKnobs
from tests.sandbox.conftest import bearer, post_json

USEAPI = "/sandbox/useapi/v1/dreamina/images"


def create(client, **headers):
    return post_json(client, USEAPI, {"prompt": "p"}, **(headers or bearer()))


def row(slug: str = "useapi") -> SandboxKnobs:
    return SandboxKnobs.objects.get(provider=slug)


def test_rows_are_created_lazily_with_provider_defaults():
    assert knobs.get_row("uwear").result_ttl_seconds == 4 * 3600
    assert knobs.get_row("ideogram").result_ttl_seconds == 24 * 3600
    assert knobs.get_row("useapi").async_seconds == 3.0
    assert SandboxKnobs.objects.count() == 3


def test_settings_can_change_the_defaults(settings):
    settings.SANDBOX_DEFAULT_KNOBS = {"*": {"async_seconds": 0.5}, "uwear": {"stuck": True}}

    assert knobs.get_row("uwear").async_seconds == 0.5
    assert knobs.get_row("uwear").stuck is True
    assert knobs.get_row("aimlapi").stuck is False


def test_set_knobs_refuses_unknown_names_and_providers():
    with pytest.raises(ValueError, match="Unknown sandbox knob"):
        knobs.set_knobs("useapi", latency=1)
    with pytest.raises(ValueError, match="Unknown sandbox provider"):
        knobs.set_knobs("replicate", stuck=True)


def test_reset_all_restores_defaults():
    knobs.set_knobs("useapi", stuck=True, rate_limit_next=4)

    knobs.reset_all()

    assert knobs.get_row("useapi").stuck is False
    assert knobs.get_row("useapi").rate_limit_next == 0


def test_rate_limit_answers_429_with_retry_after_and_counts_down(client):
    knobs.set_knobs("useapi", rate_limit_next=2, retry_after_seconds=7)

    first = create(client)
    assert (first.status_code, first["Retry-After"]) == (429, "7")
    assert row().rate_limit_next == 1
    assert create(client).status_code == 429
    assert row().rate_limit_next == 0
    assert create(client).status_code == 200
    assert row().rate_limit_next == 0


def test_a_counter_never_goes_below_zero():
    knobs.set_knobs("useapi", server_errors_next=1)

    assert knobs.take("useapi", "server_errors_next") is True
    assert knobs.take("useapi", "server_errors_next") is False
    assert row().server_errors_next == 0


def test_a_server_error_burst_then_recovery(client):
    knobs.set_knobs("useapi", server_errors_next=2, server_error_status=500)

    statuses = [create(client).status_code for _ in range(3)]

    assert statuses == [500, 500, 200]


def test_a_missing_key_does_not_use_up_a_rate_limit(client):
    knobs.set_knobs("useapi", rate_limit_next=1)

    assert create(client, HTTP_X_NOTHING="1").status_code == 401
    assert row().rate_limit_next == 1


def test_malformed_replies_say_200_but_do_not_parse(client):
    knobs.set_knobs("useapi", malformed=True)

    response = create(client)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_latency_from_the_row_and_from_the_query_string(client):
    knobs.set_knobs("useapi", latency_seconds=0.2)
    started = time.monotonic()
    assert create(client).status_code == 200
    assert time.monotonic() - started >= 0.2

    knobs.set_knobs("useapi", latency_seconds=0)
    started = time.monotonic()
    post_json(client, f"{USEAPI}?sandbox_latency=0.15", {"prompt": "p"}, **bearer())
    assert time.monotonic() - started >= 0.15


def test_query_overrides_ignore_counters_and_garbage():
    found = knobs.query_overrides(
        {
            "sandbox_stuck": "1",
            "sandbox_failure_rate": "0.5",
            "sandbox_async": "1",
            "sandbox_rate_limit_next": "9",
            "sandbox_latency_seconds": "soon",
            "prompt": "x",
        }
    )

    assert found == {"stuck": True, "failure_rate": 0.5, "async_seconds": 1.0}


def test_failure_rate_picks_the_same_jobs_every_time():
    from sandbox.progress import fails

    ids = [f"job-{n}" for n in range(400)]
    picked = [i for i in ids if fails(i, 0.25)]

    assert picked == [i for i in ids if fails(i, 0.25)]
    assert 60 < len(picked) < 140
    assert all(fails(i, 1.0) for i in ids)
    assert not any(fails(i, 0.0) for i in ids)


def test_refused_creates_are_logged_with_their_client_reference(client):
    knobs.set_knobs("useapi", rate_limit_next=1)
    body = {"prompt": "p", "replyRef": "job-42"}

    assert post_json(client, USEAPI, body, **bearer()).status_code == 429
    assert post_json(client, USEAPI, body, **bearer()).status_code == 200
    bad = {"prompt": "p", "replyRef": "job-43", "ratio": "7:5"}
    assert post_json(client, USEAPI, bad, **bearer()).status_code == 400

    assert log.creates("useapi", client_ref="job-42").count() == 2
    assert log.creates("useapi", client_ref="job-42", accepted_only=True).count() == 1
    assert log.creates("useapi", client_ref="job-43").count() == 1


def test_a_refused_multipart_create_still_names_its_prompt(client):
    from tests.sandbox.test_ideogram import send

    knobs.set_knobs("ideogram", server_errors_next=1)

    assert send(client, {"prompt": "ref-in-multipart"}).status_code == 503
    assert log.creates("ideogram", client_ref="ref-in-multipart").count() == 1
