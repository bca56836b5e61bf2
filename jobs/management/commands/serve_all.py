"""`make run`: the web server and the worker together; Ctrl-C stops both."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from typing import Any

from django.core.management.base import BaseCommand


def _exit_on_signal(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


class Command(BaseCommand):
    help = "Run the development web server and the background worker side by side."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--port", default=os.environ.get("PORT", "8000"))

    def handle(self, *args: Any, **options: Any) -> None:
        # `kill` (SIGTERM) stops the children too, not only Ctrl-C.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        manage = [sys.executable, "manage.py"]
        commands = {
            "web": [*manage, "runserver", f"127.0.0.1:{options['port']}", "--noreload"],
            "worker": [*manage, "run_worker"],
        }
        children = {
            name: subprocess.Popen(cmd, start_new_session=True) for name, cmd in commands.items()
        }
        self._announce_when_ready(int(options["port"]), children)
        try:
            self._watch(children)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping web and worker…")
        finally:
            self._stop(children)

    def _announce_when_ready(self, port: int, children: dict[str, subprocess.Popen]) -> None:
        """Say where to go once the server answers, after the start-up chatter."""
        from jobs.management.commands.bootstrap_demo import demo_password

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and children["web"].poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                self.stdout.write(
                    self.style.SUCCESS(
                        f"\n  Ready: open http://127.0.0.1:{port}/ and log in as "
                        f"demo / {demo_password()}  (Ctrl-C stops web and worker)\n"
                    )
                )
                return
            time.sleep(0.3)

    def _watch(self, children: dict[str, subprocess.Popen]) -> None:
        while True:
            for name, child in children.items():
                if child.poll() is not None:
                    self.stderr.write(f"The {name} process exited ({child.returncode}); stopping.")
                    return
            time.sleep(0.5)

    @staticmethod
    def _stop(children: dict[str, subprocess.Popen]) -> None:
        for child in children.values():
            if child.poll() is None:
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for child in children.values():
            try:
                child.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(child.pid, signal.SIGKILL)
