"""The worker: a django-q2 cluster plus the ticker that wakes due jobs.

Run one per machine. The ticker is safe on every node at once: each wake-up and each
recovery is a conditional UPDATE, so only one node acts on any given job.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections

from jobs import engine

log = logging.getLogger(__name__)
RECONCILE_EVERY = 10.0


def ticker_loop(stop: threading.Event, tick: float) -> None:
    """Wake due jobs every `tick` seconds and recover abandoned ones every few seconds."""
    last_reconcile = 0.0
    while not stop.is_set():
        try:
            if time.monotonic() - last_reconcile > RECONCILE_EVERY:
                engine.reconcile()
                last_reconcile = time.monotonic()
            engine.wake_due_jobs()
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

        cluster = Cluster()
        # Start (fork) the cluster before the ticker thread exists: forking a process
        # while another thread holds a lock (logging, a DB connection) can hang the child.
        cluster.start()
        stopping = threading.Event()
        # Our own handlers: the cluster's joins its sentinel without a time limit, which
        # can hang shutdown for good if a child is already gone.
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())
        if not options["no_ticker"]:
            threading.Thread(
                target=ticker_loop,
                args=(stopping, settings.TICK_SECONDS),
                daemon=True,
                name="ticker",
            ).start()
        while not stopping.wait(0.5):
            if not cluster.sentinel.is_alive():
                break
        stopping.set()
        shut_down(cluster)


def shut_down(cluster: Any, grace: float = 20.0) -> None:
    """Let running tasks finish for `grace` seconds, then stop the cluster hard."""
    sentinel = cluster.sentinel
    if sentinel.is_alive():
        cluster.stop_event.set()
        sentinel.join(grace)
    if sentinel.is_alive():
        log.warning("Worker did not stop within %.0f s; terminating it", grace)
        sentinel.terminate()
        sentinel.join(5)
