"""`make run`: the web server and the worker together; Ctrl-C stops both."""

from __future__ import annotations

import os
import signal
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
        try:
            self._watch(children)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping web and worker…")
        finally:
            self._stop(children)

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
