"""The worker: a django-q2 cluster plus the ticker that wakes due jobs.

Run one per machine. The ticker is safe on every node at once: each wake-up and each
recovery is a conditional UPDATE, so only one node acts on any given job.

Why a ticker thread and not django-q2's scheduler: the scheduler only looks at its
schedules every 30 guard cycles (about 15 s), far too coarse to drive polls every few
seconds. The ticker wakes due jobs every TICK_SECONDS; a django-q2 schedule of
`jobs.tasks.reconcile` stays as a backstop for clusters started without this command.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connections

from jobs import engine, heartbeat

log = logging.getLogger(__name__)
RECONCILE_EVERY = 10.0
BACKSTOP_SCHEDULE = "upscaler-reconcile"
HEARTBEAT_EVERY = 5.0


def ticker_loop(stop: threading.Event, tick: float) -> None:
    """Wake due jobs every `tick` seconds and recover abandoned ones every few seconds."""
    last_reconcile = last_beat = 0.0
    # A dead worker's job is noticed once its lease runs out; look about twice per lease.
    reconcile_every = min(RECONCILE_EVERY, settings.JOB_LEASE_SECONDS / 2)
    while not stop.is_set():
        try:
            if time.monotonic() - last_reconcile > reconcile_every:
                engine.reconcile()
                last_reconcile = time.monotonic()
            engine.wake_due_jobs()
            if time.monotonic() - last_beat > HEARTBEAT_EVERY:
                heartbeat.beat()
                last_beat = time.monotonic()
        except Exception:  # the ticker must outlive a database hiccup
            log.exception("Ticker cycle failed; trying again")
        finally:
            close_old_connections()
        stop.wait(tick)


class Command(BaseCommand):
    help = "Run the background worker (django-q2 cluster) and the job ticker."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--no-ticker", action="store_true", help="Run the cluster only.")

    def handle(self, *args: Any, **options: Any) -> None:
        from django_q.cluster import Cluster

        ensure_backstop_schedule()
        # Forked children must not inherit this process's database connection: when one
        # of them closes it, the server drops it for us too.
        connections.close_all()
        cluster = Cluster()
        # Start (fork) the cluster before the ticker thread exists: forking a process
        # while another thread holds a lock (logging, a DB connection) can hang the child.
        cluster.start()
        stopping = threading.Event()
        # Our own handlers: the cluster's joins its sentinel without a time limit, which
        # can hang shutdown for good if a child is already gone.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        ticker = threading.Thread(
            target=ticker_loop, args=(stopping, settings.TICK_SECONDS), daemon=True, name="ticker"
        )
        if not options["no_ticker"]:
            ticker.start()
        while not stopping.wait(0.5):
            if not cluster.sentinel.is_alive():
                break
        stopping.set()
        shut_down(cluster)
        if ticker.is_alive():
            ticker.join(10)
        heartbeat.forget()


def shut_down(cluster: Any, grace: float = 20.0) -> None:
    """Let running tasks finish for `grace` seconds, then stop the cluster hard."""
    sentinel = cluster.sentinel
    if sentinel.is_alive():
        # A multiprocessing Event.set() blocks for ever when a process waiting on it was
        # killed (as when the whole process group gets SIGTERM), so set it off-thread.
        threading.Thread(target=cluster.stop_event.set, daemon=True).start()
        sentinel.join(grace)
    if sentinel.is_alive():
        log.warning("Worker did not stop within %.0f s; terminating it", grace)
        sentinel.terminate()
        sentinel.join(5)


def ensure_backstop_schedule() -> None:
    """Reconcile once a minute through django-q2's own scheduler, in case no ticker runs."""
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name=BACKSTOP_SCHEDULE,
        defaults={
            "func": "jobs.tasks.reconcile",
            "schedule_type": Schedule.MINUTES,
            "minutes": 1,
            "repeats": -1,
        },
    )
