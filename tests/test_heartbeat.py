"""Worker heartbeats: the UI says when no worker is alive."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import heartbeat
from jobs.models import WorkerHeartbeat
from tests.conftest import wait_until

pytestmark = pytest.mark.django_db


def test_pages_warn_when_no_worker_is_alive(alice: Any) -> None:
    assert b'id="no-worker"' in alice.get(reverse("jobs:job_list")).content
    heartbeat.beat("node-a:1")
    assert b'id="no-worker"' not in alice.get(reverse("jobs:job_list")).content


def test_a_stale_heartbeat_does_not_count() -> None:
    heartbeat.beat("node-a:1")
    WorkerHeartbeat.objects.update(last_seen=timezone.now() - timedelta(minutes=5))
    assert heartbeat.status()["workers_alive"] == 0


def test_beat_is_idempotent_per_node() -> None:
    heartbeat.beat("node-a:1")
    heartbeat.beat("node-a:1")
    heartbeat.beat("node-b:2")
    assert heartbeat.status()["workers_alive"] == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
def test_a_running_worker_beats_and_forgets_itself_on_stop(worker: Any) -> None:
    wait_until(lambda: heartbeat.status()["workers_alive"] == 1, timeout=30)
    worker.stop()
    assert heartbeat.status()["workers_alive"] == 0
