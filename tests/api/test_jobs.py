"""POST/GET /api/v1/jobs, one job, cancel, result downloads, and team isolation."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
import respx
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone
from PIL import Image

from jobs import engine, services
from jobs.api import serialize
from jobs.models import Budget, BudgetScope, BudgetUsage, JobEvent, LedgerEntry, UpscaleJob
from jobs.spend import team_zone
from tests.api.conftest import ApiClient, error_of
from tests.conftest import image_bytes
from tests.factories import local_job

pytestmark = pytest.mark.django_db
JOBS = "/api/v1/jobs"


def png(name: str = "photo.png", size: tuple[int, int] = (40, 30)) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, image_bytes("PNG", size), content_type="image/png")


def submit_local(api: ApiClient, scale: int = 2) -> dict[str, Any]:
    response = api.post(
        JOBS, {"image": png(), "provider": "local", "options": json.dumps({"scale": scale})}
    )
    assert response.status_code == 201, response.content
    return response.json()


def run(job_id: str) -> UpscaleJob:
    job = UpscaleJob.objects.get(public_id=job_id)
    engine.process_job(job.pk)
    job.refresh_from_db()
    return job


# ----- create -----------------------------------------------------------------------------
def test_upload_creates_a_job_with_estimate_and_budget_effect(api: ApiClient, team: Any) -> None:
    Budget.objects.create(team=team, scope=BudgetScope.TEAM, monthly_limit_micros=5_000_000)
    body = submit_local(api, scale=4)
    assert body["batch"]["comparison"] is False
    (job,) = body["jobs"]
    assert job["status"] == "queued" and job["provider"] == "local"
    assert job["options"] == {"scale": 4}
    assert job["source"]["width"] == 40 and job["source"]["name"] == "photo.png"
    assert body["estimate"] == {"usd_micros": 0, "usd": "0.000000"}
    (budget,) = body["budgets"]
    assert budget["scope"] == "team" and budget["limit"]["usd_micros"] == 5_000_000
    assert UpscaleJob.objects.get(public_id=job["id"]).team == team


def test_several_providers_make_a_comparison_group(api: ApiClient, team: Any) -> None:
    services.ensure_sandbox_accounts(team)
    options = {"local": {"scale": 3}, "aimlapi": {}}
    response = api.post(
        JOBS, {"image": png(), "provider": "local,aimlapi", "options": json.dumps(options)}
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["batch"]["comparison"] is True
    assert [j["provider"] for j in body["jobs"]] == ["local", "aimlapi"]
    assert body["jobs"][0]["options"] == {"scale": 3}
    assert len({j["batch"]["id"] for j in body["jobs"]}) == 1
    assert body["estimate"]["usd_micros"] == sum(j["estimate"]["usd_micros"] for j in body["jobs"])
    assert body["estimate"]["usd_micros"] > 0


def test_flat_options_with_several_providers_are_refused(api: ApiClient, team: Any) -> None:
    services.ensure_sandbox_accounts(team)
    response = api.post(
        JOBS, {"image": png(), "provider": ["local", "aimlapi"], "options": '{"scale": 2}'}
    )
    assert response.status_code == 400
    assert error_of(response)["details"]["field"] == "options"


def test_source_ref_as_json_for_a_reference_provider(api: ApiClient, team: Any) -> None:
    services.ensure_sandbox_accounts(team)
    response = api.post_json(
        JOBS,
        {"provider": "useapi", "source_ref": {"jobid": "user:1-dreamina-abc", "imageIndex": 0}},
    )
    assert response.status_code == 201, response.content
    job = response.json()["jobs"][0]
    assert job["source"] is None
    assert job["source_ref"]["jobid"] == "user:1-dreamina-abc"


@respx.mock
def test_source_url_is_fetched_through_the_guarded_client(api: ApiClient) -> None:
    respx.get("https://images.example/cat.png").mock(
        return_value=httpx.Response(200, content=image_bytes("PNG", (50, 20)))
    )
    response = api.post_json(
        JOBS, {"provider": "local", "source_url": "https://images.example/cat.png"}
    )
    assert response.status_code == 201, response.content
    assert response.json()["jobs"][0]["source"]["name"] == "cat.png"


def test_source_url_to_a_private_address_is_refused(api: ApiClient) -> None:
    response = api.post_json(JOBS, {"provider": "local", "source_url": "http://127.0.0.1:9/x.png"})
    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "source_url_failed" and error["details"]["field"] == "source_url"


BAD_REQUESTS = {
    "no source": ({"provider": "local"}, "invalid_request"),
    "unknown provider": ({"provider": "nope", "source_url": "https://x.example/a.png"}, None),
    "no provider": ({"source_url": "https://x.example/a.png"}, "invalid_request"),
    "two sources": (
        {"provider": "local", "source_url": "https://x.example/a.png", "source_ref": {"a": 1}},
        "invalid_request",
    ),
    "options not an object": ({"provider": "local", "options": [1]}, "invalid_request"),
    "bad option value": (
        {"provider": "useapi", "source_ref": {"jobid": "x"}, "options": {"nope": 1}},
        "invalid_request",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_are_400_with_the_error_shape(api: ApiClient, case: str) -> None:
    payload, code = BAD_REQUESTS[case]
    response = api.post_json(JOBS, payload)
    assert response.status_code == 400, response.content
    assert error_of(response)["code"] == (code or "invalid_request")
    assert UpscaleJob.objects.count() == 0


def test_a_file_that_is_not_an_image_is_rejected(api: ApiClient) -> None:
    fake = SimpleUploadedFile("x.png", b"not an image at all", content_type="image/png")
    response = api.post(JOBS, {"image": fake, "provider": "local"})
    assert response.status_code == 400
    assert error_of(response)["code"] == "image_rejected"


def test_invalid_json_and_wrong_media_type(api: ApiClient) -> None:
    bad = api.client.post(JOBS, "{oops", content_type="application/json", headers=api.headers)
    assert bad.status_code == 400 and error_of(bad)["code"] == "invalid_json"
    text = api.client.post(JOBS, "hi", content_type="text/plain", headers=api.headers)
    assert text.status_code == 415 and error_of(text)["code"] == "unsupported_media_type"


def test_viewer_cannot_submit(viewer_api: ApiClient) -> None:
    response = viewer_api.post(JOBS, {"image": png(), "provider": "local"})
    assert response.status_code == 403
    assert "Viewers" in error_of(response)["message"]
    assert UpscaleJob.objects.count() == 0


def test_budget_refusal_is_402_with_the_reason(api: ApiClient, monkeypatch: Any) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise services.BudgetExceeded(
            "The team budget has $0.50 left this month; this batch needs $1.20.",
            budget="Whole team",
            remaining_micros=500_000,
            needed_micros=1_200_000,
        )

    monkeypatch.setattr(services, "submit_jobs", refuse)
    response = api.post(JOBS, {"image": png(), "provider": "local"})
    assert response.status_code == 402
    error = error_of(response)
    assert error["code"] == "budget_exceeded" and "$0.50" in error["message"]
    assert error["details"]["remaining"]["usd_micros"] == 500_000
    assert error["details"]["needed"]["usd"] == "1.200000"
    assert error["details"]["budget"] == "Whole team"


# ----- read -------------------------------------------------------------------------------
def test_finished_job_has_results_with_pixel_sizes_and_working_urls(api: ApiClient) -> None:
    job_id = submit_local(api, scale=2)["jobs"][0]["id"]
    assert run(job_id).status == "succeeded"
    job = api.get(f"{JOBS}/{job_id}").json()
    assert job["status"] == "succeeded" and job["finished"] is True and job["error"] is None
    (result,) = job["results"]
    assert (result["width"], result["height"]) == (80, 60)
    assert job["cost"] == {"usd_micros": 0, "usd": "0.000000", "credits": "0.0000"}
    signed = anonymous_get(result["download_url"])
    assert signed.status_code == 200
    assert Image.open(io.BytesIO(b"".join(signed.streaming_content))).size == (80, 60)
    with_token = api.get(f"{JOBS}/{job_id}/results/0/file")
    assert with_token.status_code == 200 and with_token["Content-Type"] == "image/png"


def anonymous_get(url: str) -> Any:
    """A request with no token and no session, as curl would send it."""
    return Client().get(url.replace("http://testserver", ""))


def test_expired_or_wrong_signature_is_refused(api: ApiClient, monkeypatch: Any) -> None:
    first = submit_local(api)["jobs"][0]["id"]
    second = submit_local(api)["jobs"][0]["id"]
    run(first), run(second)
    url = api.get(f"{JOBS}/{first}").json()["results"][0]["download_url"]
    signature = url.split("signature=")[1]
    other = anonymous_get(f"/api/v1/jobs/{second}/results/0/file?signature={signature}")
    assert other.status_code == 401 and error_of(other)["code"] == "invalid_signature"
    monkeypatch.setattr(serialize, "DOWNLOAD_URL_LIFETIME", timedelta(seconds=-1))
    assert anonymous_get(url).status_code == 401


def test_list_filters_and_paginates(api: ApiClient, team: Any, user: Any) -> None:
    done = [local_job(team, user, run=True) for _ in range(3)]
    queued = local_job(team, user)
    page = api.get(JOBS, {"page_size": 2}).json()
    assert page["count"] == 4 and page["pages"] == 2 and page["previous"] is None
    assert page["jobs"][0]["id"] == str(queued.public_id)  # newest first
    second = api.get(page["next"].replace("http://testserver", "")).json()
    assert len(second["jobs"]) == 2 and second["next"] is None and second["previous"]
    succeeded = api.get(JOBS, {"status": "succeeded"}).json()
    assert {j["id"] for j in succeeded["jobs"]} == {str(j.public_id) for j in done}
    assert api.get(JOBS, {"provider": "aimlapi"}).json()["count"] == 0
    assert api.get(JOBS, {"since": "2999-01-01"}).json()["count"] == 0
    assert api.get(JOBS, {"since": "2000-01-01T00:00:00Z"}).json()["count"] == 4


@pytest.mark.parametrize(
    "params",
    [{"status": "done"}, {"provider": "x"}, {"since": "yesterday"}, {"page": "0"},
     {"page_size": "1000"}, {"page": "-1"}],
)  # fmt: skip
def test_bad_list_filters_are_400(api: ApiClient, params: dict[str, str]) -> None:
    response = api.get(JOBS, params)
    assert response.status_code == 400
    assert error_of(response)["details"]["field"] == next(iter(params))


# ----- cancel -----------------------------------------------------------------------------
def test_cancel_a_queued_job(api: ApiClient) -> None:
    job_id = submit_local(api)["jobs"][0]["id"]
    response = api.post(f"{JOBS}/{job_id}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    job = UpscaleJob.objects.get(public_id=job_id)
    assert LedgerEntry.objects.filter(job=job, kind="release").exists()
    assert JobEvent.objects.filter(job=job, kind="canceled").exists()
    again = api.post(f"{JOBS}/{job_id}/cancel")
    assert again.status_code == 409 and error_of(again)["code"] == "cannot_cancel"


def test_viewer_cannot_cancel(viewer_api: ApiClient, team: Any, user: Any) -> None:
    job = local_job(team, user)
    response = viewer_api.post(f"{JOBS}/{job.public_id}/cancel")
    assert response.status_code == 403
    job.refresh_from_db()
    assert job.status == "queued"


# ----- isolation --------------------------------------------------------------------------
def test_a_teams_token_never_sees_another_teams_jobs(
    api: ApiClient, other_api: ApiClient, other_team: Any, other_user: Any
) -> None:
    foreign = local_job(other_team, other_user, run=True)
    assert api.get(JOBS).json()["count"] == 0
    for response in [
        api.get(f"{JOBS}/{foreign.public_id}"),
        api.post(f"{JOBS}/{foreign.public_id}/cancel"),
        api.get(f"{JOBS}/{foreign.public_id}/results/0/file"),
    ]:
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert other_api.get(f"{JOBS}/{foreign.public_id}").status_code == 200


def test_budget_usage_shows_in_the_budget_effect(api: ApiClient, team: Any, user: Any) -> None:
    budget = Budget.objects.create(
        team=team, scope=BudgetScope.USER, user=user, monthly_limit_micros=1_000_000
    )
    month = timezone.now().astimezone(team_zone(team)).date().replace(day=1)
    BudgetUsage.objects.create(budget=budget, month=month, used_micros=900_000)
    (effect,) = submit_local(api)["budgets"]
    assert effect["budget"] == "alice's budget" and effect["user"] == "alice"
    assert effect["remaining"]["usd_micros"] == 100_000
    assert effect["percent_used"] == 90 and effect["warning"] is True


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data; boundary=", "multipart/form-data; boundary=xyz"]
)
def test_malformed_multipart_is_a_json_400(api: ApiClient, content_type: str) -> None:
    response = api.client.post(
        JOBS, b"--xyz\r\ngarbage", content_type=content_type, headers=api.headers
    )
    assert response.status_code == 400
    assert error_of(response)["code"] in ("invalid_multipart", "invalid_request")


def test_oversized_json_is_413(api: ApiClient, settings: Any) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = json.dumps({"provider": "local", "options": {"pad": "x" * 2000}})
    response = api.client.post(JOBS, body, content_type="application/json", headers=api.headers)
    assert response.status_code == 413 and error_of(response)["code"] == "too_large"
