"""The fake ImagineAPI: imagine, Enhance upscales, Directus-style errors."""

from __future__ import annotations

import pytest

from sandbox import knobs
from tests.sandbox.conftest import age, bearer, download_picture, post_json

BASE = "/sandbox/imagineapi/items/images"


def get(client, image_id: str) -> dict:
    response = client.get(f"{BASE}/{image_id}", **bearer())
    assert response.status_code == 200, response.content
    return response.json()["data"]


def completed_image(client, prompt: str = "a lighthouse --ar 2:1") -> dict:
    created = post_json(client, BASE, {"prompt": prompt}, **bearer()).json()["data"]
    age(10)
    return get(client, created["id"])


def upscale(client, image_id: str, index: int = 0, scale: str = "2x"):
    return client.post(f"{BASE}/{image_id}/{index}/upscale/{scale}", **bearer())


def test_imagine_moves_from_pending_through_in_progress_to_completed(client):
    created = post_json(client, BASE, {"prompt": "a lighthouse", "ref": "r-1"}, **bearer())

    assert created.status_code == 200
    data = created.json()["data"]
    assert (data["status"], data["url"], data["ref"]) == ("pending", None, "r-1")
    age(1.5)
    running = get(client, data["id"])
    assert running["status"] == "in-progress"
    assert 0 < running["progress"] < 100
    age(10)
    done = get(client, data["id"])
    assert done["status"] == "completed"
    assert len(done["upscaled_urls"]) == 4
    assert download_picture(client, done["url"]).size == (1024, 1024)
    assert download_picture(client, done["upscaled_urls"][1]).size == (512, 512)


def test_enhance_makes_a_new_image_that_completes_as_webp(client):
    source = completed_image(client)

    response = upscale(client, source["id"], index=2, scale="4x")

    assert response.status_code == 200
    data = response.json()["data"]
    assert data["id"] != source["id"]
    assert data["status"] == "pending"
    assert data["url"] is None
    assert data["parent_id"] == source["id"]
    assert data["model_type"] == "Enhance"
    assert (data["upscale_factor"], data["upscaled_index"]) == (4, 2)
    assert data["error"] is None and data["progress"] is None
    age(10, external_id=data["id"])
    done = get(client, data["id"])
    assert done["status"] == "completed"
    assert done["url"].split("?")[0].endswith(".webp")
    result = download_picture(client, done["url"])
    assert (result.format, result.size) == ("WEBP", (2048, 1024))


def test_an_unknown_id_is_403_forbidden(client):
    for response in (
        client.get(f"{BASE}/0b9e5c8e-2f5a-4d0b-9a65-1f2a3b4c5d6e", **bearer()),
        upscale(client, "0b9e5c8e-2f5a-4d0b-9a65-1f2a3b4c5d6e"),
    ):
        assert response.status_code == 403
        assert response.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"


@pytest.mark.parametrize(("index", "scale"), [(0, "3x"), (0, "14x"), (4, "2x")])
def test_a_bad_scale_or_index_is_failed_validation(client, index, scale):
    source = completed_image(client)

    response = upscale(client, source["id"], index=index, scale=scale)

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "FAILED_VALIDATION"


def test_upscale_needs_a_completed_generated_image(client):
    pending = post_json(client, BASE, {"prompt": "p"}, **bearer()).json()["data"]
    response = upscale(client, pending["id"])
    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_PAYLOAD"

    age(10)
    enhanced = upscale(client, pending["id"]).json()["data"]
    age(10)
    assert upscale(client, enhanced["id"]).status_code == 400


def test_imagine_needs_a_prompt(client):
    response = post_json(client, BASE, {"ref": "x"}, **bearer())

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "FAILED_VALIDATION"


def test_missing_key_is_401_invalid_credentials(client):
    response = client.get(f"{BASE}/anything")

    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "INVALID_CREDENTIALS"


def test_rate_limit_and_outage_use_directus_codes(client):
    knobs.set_knobs("imagineapi", rate_limit_next=1, server_errors_next=1)

    limited = post_json(client, BASE, {"prompt": "p"}, **bearer())
    down = post_json(client, BASE, {"prompt": "p"}, **bearer())

    assert limited.status_code == 429
    assert limited.json()["errors"][0]["extensions"]["code"] == "REQUESTS_EXCEEDED"
    assert down.status_code == 503
    assert down.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"


def test_failed_upscale_has_an_error_and_no_url(client):
    source = completed_image(client)
    knobs.set_knobs("imagineapi", failure_rate=1.0)
    data = upscale(client, source["id"]).json()["data"]
    age(10)

    failed = get(client, data["id"])

    assert failed["status"] == "failed"
    assert failed["url"] is None
    assert failed["error"]


def test_out_of_credits_is_402(client):
    knobs.set_knobs("imagineapi", out_of_credits=True)

    response = post_json(client, BASE, {"prompt": "p"}, **bearer())

    assert response.status_code == 402
    assert response.json()["errors"][0]["extensions"]["code"] == "INSUFFICIENT_CREDITS"
