"""The sandbox as a whole: over real HTTP, from several threads, in the admin, tidied up."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import httpx
import pytest
import respx
from django.core.files.storage import default_storage
from django.db import connection

from sandbox import knobs
from sandbox.maintenance import purge
from sandbox.models import SandboxJob, SandboxKnobs, SandboxResult
from tests.conftest import image_bytes
from tests.sandbox.conftest import age, bearer, post_json


def test_the_overview_lists_providers_and_knobs(client):
    reply = client.get("/sandbox/").json()

    assert set(reply["providers"]) == {"aimlapi", "useapi", "imagineapi", "uwear", "ideogram"}
    uwear = reply["providers"]["uwear"]
    assert uwear["base_url"] == "http://testserver/sandbox/uwear"
    assert uwear["knobs"]["result_ttl_seconds"] == 4 * 3600


def test_admin_pages_render(admin_client):
    assert admin_client.get("/admin/sandbox/sandboxknobs/").status_code == 200
    assert SandboxKnobs.objects.count() == 5
    assert admin_client.get("/admin/sandbox/sandboxjob/").status_code == 200
    assert admin_client.get("/admin/sandbox/sandboxrequest/").status_code == 200


def test_purge_drops_old_jobs_and_their_files(client):
    post_json(client, "/sandbox/useapi/v1/dreamina/images", {"prompt": "p"}, **bearer())
    age(10)
    job = SandboxJob.objects.get()
    client.get(f"/sandbox/useapi/v1/dreamina/images/{job.external_id}", **bearer())
    names = list(SandboxResult.objects.values_list("file_name", flat=True))
    assert len(names) == 4 and all(default_storage.exists(n) for n in names)

    assert purge(timedelta(days=1)) == 0
    age(2 * 24 * 3600)
    assert purge(timedelta(days=1)) == 1

    assert not SandboxJob.objects.exists()
    assert not any(default_storage.exists(n) for n in names)


@pytest.mark.django_db(transaction=True)
def test_counters_are_taken_atomically_across_threads():
    knobs.set_knobs("useapi", rate_limit_next=5)
    taken: list[bool] = []

    def worker() -> None:
        try:
            for _ in range(3):
                taken.append(knobs.take("useapi", "rate_limit_next"))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert taken.count(True) == 5
    assert SandboxKnobs.objects.get(provider="useapi").rate_limit_next == 0


def test_uwear_fetches_a_url_served_by_the_app_itself(live_server):
    """Over real HTTP: the sandbox downloads its own (Ideogram) result URL as uwear would."""
    with httpx.Client(base_url=live_server.url, timeout=20) as http:
        made = http.post(
            "/sandbox/ideogram/upscale",
            headers={"Api-Key": "k"},
            data={"image_request": "{}"},
            files={"image_file": ("a.png", image_bytes("PNG", (30, 20)), "image/png")},
        )
        own_url = made.json()["data"][0]["url"]
        assert own_url.startswith(live_server.url)
        created = http.post(
            "/sandbox/uwear/api/v1/generation-upscale",
            headers={"Authorization": "Bearer k"},
            json={"image_url": own_url, "model_name": "recraft"},
        ).json()
        age(10)
        done = http.get(
            f"/sandbox/uwear/api/v1/generation/{created['generation_id']}",
            headers={"Authorization": "Bearer k"},
        ).json()

    assert done["status"] == "Done", done
    assert done["generation_results"][0]["image_url"].startswith(live_server.url)


@pytest.mark.django_db(transaction=True)
@respx.mock
def test_the_webhook_timer_fires_without_a_poll(client, settings):
    settings.SANDBOX_WEBHOOK_TIMERS = True
    knobs.set_knobs("useapi", async_seconds=0.2)
    hook = respx.post("https://hooks.example/in").mock(return_value=httpx.Response(204))

    post_json(
        client,
        "/sandbox/useapi/v1/dreamina/images",
        {"prompt": "p", "replyUrl": "https://hooks.example/in"},
        **bearer(),
    )

    deadline = time.monotonic() + 10
    while not hook.called and time.monotonic() < deadline:
        time.sleep(0.05)
    assert hook.call_count == 1
    assert SandboxJob.objects.get().webhook_sent_at is not None
