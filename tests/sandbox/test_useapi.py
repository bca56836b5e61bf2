"""The fake useapi.net Dreamina: generation jobs, upscale jobs, polling, cancel, webhooks."""

from __future__ import annotations

import json
from urllib.parse import quote

import httpx
import pytest
import respx

from sandbox import knobs, log
from sandbox.models import SandboxJob, SandboxRequest
from tests.sandbox.conftest import age, bearer, download_picture, post_json

BASE = "/sandbox/useapi/v1/dreamina"


def job_url(jobid: str) -> str:
    # Clients percent-encode the ':' and '@' of job ids.
    return f"{BASE}/images/{quote(jobid, safe='')}"


def poll(client, jobid: str) -> dict:
    response = client.get(job_url(jobid), **bearer())
    assert response.status_code == 200, response.content
    return response.json()


def completed_generation(client, **extra: object) -> dict:
    created = post_json(client, f"{BASE}/images", {"prompt": "a red fox", **extra}, **bearer())
    assert created.status_code == 200, created.content
    age(10)
    return poll(client, created.json()["jobid"])


def test_a_generation_completes_with_four_pictures(client):
    created = post_json(
        client, f"{BASE}/images", {"prompt": "a red fox", "ratio": "16:9"}, **bearer()
    ).json()

    assert created["type"] == "image"
    assert created["status"] == "created"
    assert ":" in created["jobid"] and "@" in created["jobid"]
    assert poll(client, created["jobid"])["status"] == "created"
    age(10)
    job = poll(client, created["jobid"])
    assert job["status"] == "completed"
    assert job["updated"].endswith("Z")
    images = job["response"]["images"]
    assert len(images) == 4
    assert {(i["width"], i["height"], i["format"]) for i in images} == {(512, 288, "jpeg")}
    assert download_picture(client, images[3]["imageUrl"]).size == (512, 288)


def test_upscale_of_a_completed_generation(client):
    source = completed_generation(client, ratio="16:9")

    created = post_json(
        client,
        f"{BASE}/images/upscale",
        {"jobid": source["jobid"], "imageIndex": 2, "upscaleResolution": "2k"},
        **bearer(),
    )

    assert created.status_code == 200
    upscale = created.json()
    assert upscale["type"] == "upscale"
    assert upscale["status"] == "created"
    assert upscale["request"]["jobid"] == source["jobid"]
    assert upscale["request"]["resolution"] == "2k"
    assert upscale["response"] == {"forecastCost": 0}
    assert upscale["code"] == 200
    age(10, external_id=upscale["jobid"])
    done = poll(client, upscale["jobid"])
    assert done["status"] == "completed"
    image = done["response"]["images"][0]
    assert (image["width"], image["height"]) == (2048, 1152)
    result = download_picture(client, image["imageUrl"])
    assert (result.format, result.size) == ("JPEG", (2048, 1152))


def test_8k_upscale_has_an_8192_long_side(client):
    source = completed_generation(client)
    upscale = post_json(
        client,
        f"{BASE}/images/upscale",
        {"jobid": source["jobid"], "upscaleResolution": "8k"},
        **bearer(),
    ).json()
    age(10)

    image = poll(client, upscale["jobid"])["response"]["images"][0]

    assert (image["width"], image["height"]) == (8192, 8192)


@pytest.mark.parametrize(
    ("payload", "status", "message"),
    [
        ({}, 400, "Parameter jobid is required"),
        ({"jobid": "j1-u1-US:x@y.z:dreamina"}, 404, "Source image job not found"),
        ({"jobid": "SOURCE", "imageIndex": 4}, 400, "imageIndex"),
        ({"jobid": "SOURCE", "upscaleResolution": "16k"}, 400, "upscaleResolution"),
        ({"jobid": "SOURCE", "detailStrength": 2}, 400, "detailStrength"),
        ({"jobid": "SOURCE", "maxJobs": 0}, 400, "maxJobs"),
        ({"jobid": "SOURCE", "replyUrl": "ftp://x"}, 400, "replyUrl"),
    ],
)
def test_upscale_validation_errors_are_flat(client, payload, status, message):
    source = completed_generation(client)
    if payload.get("jobid") == "SOURCE":
        payload = {**payload, "jobid": source["jobid"]}

    response = post_json(client, f"{BASE}/images/upscale", payload, **bearer())

    assert response.status_code == status
    assert list(response.json()) == ["error"]
    assert message in response.json()["error"]


def test_upscale_of_an_unfinished_generation_is_refused(client):
    created = post_json(client, f"{BASE}/images", {"prompt": "p"}, **bearer()).json()

    response = post_json(client, f"{BASE}/images/upscale", {"jobid": created["jobid"]}, **bearer())

    assert response.status_code == 400
    assert response.json() == {"error": "Source image job is created, must be completed"}


def test_generation_needs_a_prompt(client):
    response = post_json(client, f"{BASE}/images", {"model": "seedream-4.0"}, **bearer())

    assert response.status_code == 400
    assert response.json() == {"error": "Parameter prompt is required"}


def test_missing_key_is_401_unauthorized(client):
    response = post_json(client, f"{BASE}/images", {"prompt": "p"})

    assert response.status_code == 401
    assert response.json() == {"error": "Unauthorized"}


def test_out_of_credits_is_402_and_a_broken_account_596(client):
    knobs.set_knobs("useapi", out_of_credits=True)
    assert post_json(client, f"{BASE}/images", {"prompt": "p"}, **bearer()).status_code == 402

    knobs.set_knobs("useapi", account_broken=True)
    response = client.get(job_url("j1-u1-US:a@b.c:dreamina"), **bearer())
    assert response.status_code == 596
    assert "re-add" in response.json()["error"]


def test_unknown_job_is_404(client):
    assert client.get(job_url("j1-u1-US:a@b.c:dreamina"), **bearer()).status_code == 404


def test_failed_jobs_carry_an_error(client):
    knobs.set_knobs("useapi", failure_rate=1.0)
    created = post_json(client, f"{BASE}/images", {"prompt": "p"}, **bearer()).json()
    age(10)

    job = poll(client, created["jobid"])

    assert job["status"] == "failed"
    assert job["error"].startswith("fail_code")
    assert "images" not in job["response"]


def test_stuck_jobs_never_leave_created(client):
    knobs.set_knobs("useapi", stuck=True)
    created = post_json(client, f"{BASE}/images", {"prompt": "p"}, **bearer()).json()
    age(24 * 3600)

    assert poll(client, created["jobid"])["status"] == "created"


def test_cancel_a_running_job(client):
    created = post_json(client, f"{BASE}/images", {"prompt": "p"}, **bearer()).json()

    response = client.delete(f"{BASE}/scheduler/{quote(created['jobid'], safe='')}", **bearer())

    assert response.status_code == 204
    job = poll(client, created["jobid"])
    assert job["status"] == "failed"
    assert job["error"] == "Job cancelled"
    again = client.delete(f"{BASE}/scheduler/{quote(created['jobid'], safe='')}", **bearer())
    assert again.status_code == 404


@respx.mock
def test_reply_url_gets_the_job_record_once_when_it_completes(client):
    hook = respx.post("https://hooks.example/useapi").mock(return_value=httpx.Response(200))
    source = completed_generation(client)
    upscale = post_json(
        client,
        f"{BASE}/images/upscale",
        {
            "jobid": source["jobid"],
            "upscaleResolution": "2k",
            "replyUrl": "https://hooks.example/useapi",
            "replyRef": "our-job-7",
        },
        **bearer(),
    ).json()
    assert not hook.called

    age(10)
    poll(client, upscale["jobid"])
    poll(client, upscale["jobid"])

    assert hook.call_count == 1
    sent = json.loads(hook.calls[0].request.content)
    assert sent["jobid"] == upscale["jobid"]
    assert sent["status"] == "completed"
    assert sent["replyRef"] == "our-job-7"
    assert sent["response"]["images"][0]["width"] == 2048
    assert SandboxJob.objects.get(external_id=upscale["jobid"]).webhook_sent_at


def test_polling_many_times_is_still_one_create(client):
    created = post_json(
        client, f"{BASE}/images", {"prompt": "p", "replyRef": "ref-9"}, **bearer()
    ).json()
    for _ in range(3):
        poll(client, created["jobid"])

    assert log.creates("useapi", client_ref="ref-9").count() == 1
    polls = SandboxRequest.objects.filter(provider="useapi", external_id=created["jobid"])
    assert polls.count() == 4
