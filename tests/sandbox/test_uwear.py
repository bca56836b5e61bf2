"""The fake uwear.ai: it fetches image_url itself; results and result ids live 4 hours."""

from __future__ import annotations

import httpx
import pytest
import respx

from sandbox import knobs
from tests.conftest import image_bytes
from tests.sandbox.conftest import age, bearer, download_picture, fetch, post_json

BASE = "/sandbox/uwear/api/v1"
SOURCE = "https://shop.example/dress.jpg"


def create(client, body: dict, base: str = BASE):
    return post_json(client, f"{base}/generation-upscale", body, **bearer())


def get(client, generation_id: int, base: str = BASE) -> dict:
    response = client.get(f"{base}/generation/{generation_id}", **bearer())
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def source_url():
    with respx.mock:
        respx.get(SOURCE).mock(
            return_value=httpx.Response(200, content=image_bytes("JPEG", (60, 40)))
        )
        yield SOURCE


def test_recraft_upscale_of_an_image_url(client, source_url):
    response = create(client, {"image_url": source_url, "model_name": "recraft"})

    assert response.status_code == 200
    created = response.json()
    assert set(created) == {"generation_id", "created_at", "updated_at"}
    assert isinstance(created["generation_id"], int)
    assert get(client, created["generation_id"])["status"] == "Created"
    age(1.5)
    assert get(client, created["generation_id"])["status"] == "Ongoing"
    age(10)
    done = get(client, created["generation_id"])
    assert done["status"] == "Done"
    [result] = done["generation_results"]
    assert isinstance(result["id"], int)
    assert download_picture(client, result["image_url"]).size == (120, 80)


def test_topaz_settings_choose_the_factor_and_the_bare_path_works(client, source_url):
    body = {
        "image_url": source_url,
        "model_name": "topaz",
        "generation_settings": {"upscale_factor": "6x", "face_enhancement": "true"},
    }
    created = create(client, body, base="/sandbox/uwear").json()
    age(10)

    done = get(client, created["generation_id"], base="/sandbox/uwear")

    result = download_picture(client, done["generation_results"][0]["image_url"])
    assert result.size == (360, 240)


def test_generation_result_id_chains_an_earlier_result(client, source_url):
    first = create(client, {"image_url": source_url, "model_name": "recraft"}).json()
    age(10)
    result_id = get(client, first["generation_id"])["generation_results"][0]["id"]

    second = create(client, {"generation_result_id": result_id, "model_name": "recraft"})
    age(10, pk=second.json()["generation_id"])

    done = get(client, second.json()["generation_id"])
    assert download_picture(client, done["generation_results"][0]["image_url"]).size == (240, 160)


def test_a_result_id_and_its_url_expire_after_four_hours(client, source_url, travel):
    first = create(client, {"image_url": source_url, "model_name": "recraft"}).json()
    age(10)
    done = get(client, first["generation_id"])
    travel(4 * 3600 + 60)

    response = create(
        client, {"generation_result_id": done["generation_results"][0]["id"], "model_name": "topaz"}
    )

    assert response.status_code == 400
    assert "expired" in response.json()["detail"]
    assert fetch(client, done["generation_results"][0]["image_url"]).status_code == 410


def test_unknown_result_id_is_404(client):
    response = create(client, {"generation_result_id": 99999, "model_name": "recraft"})

    assert response.status_code == 404
    assert response.json() == {"detail": "Generation result not found"}


@respx.mock
@pytest.mark.parametrize(
    ("mock", "words"),
    [
        ({"side_effect": httpx.ConnectError("refused")}, "Could not download image_url"),
        ({"return_value": httpx.Response(404)}, "HTTP 404"),
        ({"return_value": httpx.Response(200, content=b"<html>hi</html>")}, "not a usable image"),
    ],
)
def test_an_unusable_image_url_ends_in_error(client, mock, words):
    respx.get("https://shop.example/broken").mock(**mock)
    created = create(client, {"image_url": "https://shop.example/broken", "model_name": "recraft"})
    assert created.status_code == 200
    age(10)

    failed = get(client, created.json()["generation_id"])

    assert failed["status"] == "Error"
    assert words in failed["error"]
    assert failed["generation_results"] == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"model_name": "recraft"}, ["body"]),
        ({"image_url": "u", "generation_result_id": 1, "model_name": "recraft"}, ["body"]),
        ({"image_url": "u"}, ["body", "model_name"]),
        ({"image_url": "u", "model_name": "esrgan"}, ["body", "model_name"]),
        ({"generation_result_id": "7", "model_name": "recraft"}, ["body", "generation_result_id"]),
        (
            {"image_url": "u", "model_name": "recraft", "generation_settings": {}},
            ["body", "generation_settings"],
        ),
        (
            {"image_url": "u", "model_name": "topaz", "generation_settings": {"upscale_factor": 8}},
            ["body", "generation_settings", "upscale_factor"],
        ),
        (
            {"image_url": "u", "model_name": "topaz", "generation_settings": {"sharpen": "1"}},
            ["body", "generation_settings", "sharpen"],
        ),
    ],
)
def test_validation_errors_are_422_with_a_detail_list(client, body, loc):
    response = create(client, body)

    assert response.status_code == 422
    detail = response.json()["detail"]
    assert isinstance(detail, list)
    assert detail[0]["loc"] == loc


def test_missing_key_is_401_not_authenticated(client):
    response = post_json(client, f"{BASE}/generation-upscale", {})

    assert response.status_code == 401
    assert response.json() == {"detail": "Not authenticated"}


def test_unknown_and_malformed_generation_ids(client):
    assert client.get(f"{BASE}/generation/424242", **bearer()).status_code == 404
    response = client.get(f"{BASE}/generation/abc", **bearer())
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "generation_id"]


def test_sandbox_generation_gives_result_ids_to_upscale(client):
    created = post_json(
        client, f"{BASE}/generation", {"prompt": "a coat", "num_images": 2}, **bearer()
    ).json()
    age(10)

    results = get(client, created["generation_id"])["generation_results"]

    assert len(results) == 2
    response = create(client, {"generation_result_id": results[1]["id"], "model_name": "recraft"})
    assert response.status_code == 200


def test_out_of_credits_is_402(client, source_url):
    knobs.set_knobs("uwear", out_of_credits=True)

    response = create(client, {"image_url": source_url, "model_name": "recraft"})

    assert response.status_code == 402
    assert response.json() == {"detail": "Not enough credits"}


def test_outside_development_private_addresses_are_not_fetched(client, settings):
    settings.SANDBOX_FETCH_PRIVATE_ADDRESSES = False
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8000"
    created = create(client, {"image_url": "http://10.1.2.3/x.png", "model_name": "recraft"})
    age(10)

    failed = get(client, created.json()["generation_id"])

    assert failed["status"] == "Error"
    assert "private address" in failed["error"]


def test_the_apps_own_origin_stays_fetchable_outside_development(settings):
    from sandbox.fetch import check_url

    settings.SANDBOX_FETCH_PRIVATE_ADDRESSES = False
    settings.SANDBOX_BASE_URL = "http://127.0.0.1:8000"

    check_url("http://127.0.0.1:8000/s/token.png")  # no exception
