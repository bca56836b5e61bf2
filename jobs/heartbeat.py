"""Worker heartbeats: each worker node records that it is alive, so the UI can say when none is.

A queued job with no worker simply waits; without this, nobody would know why.
"""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from django.db.models import Count, Max
from django.http import HttpRequest
from django.utils import timezone

from jobs.models import WorkerHeartbeat

STALE_AFTER = timedelta(seconds=30)


def node_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def beat(node: str | None = None) -> None:
    now = timezone.now()
    node = node or node_name()
    updated = WorkerHeartbeat.objects.filter(node=node).update(last_seen=now, pid=os.getpid())
    if not updated:
        WorkerHeartbeat.objects.get_or_create(
            node=node, defaults={"pid": os.getpid(), "started_at": now, "last_seen": now}
        )


def forget(node: str | None = None) -> None:
    """A worker that stops cleanly says so, instead of lingering as 'stale' for a while."""
    WorkerHeartbeat.objects.filter(node=node or node_name()).delete()


def status() -> dict[str, Any]:
    since = timezone.now() - STALE_AFTER
    # One query: this runs on every signed-in page.
    summary = WorkerHeartbeat.objects.filter(last_seen__gte=since).aggregate(
        alive=Count("pk"), last=Max("last_seen")
    )
    return {"workers_alive": summary["alive"], "last_seen": summary["last"]}


def context(request: HttpRequest) -> dict[str, Any]:
    """Template context: how many workers are alive (signed-in pages only)."""
    if not request.user.is_authenticated:
        return {}
    return {"worker_status": status()}
