"""`manage.py sandbox_purge [--days N]`: drop old sandbox jobs, files and log rows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand

from sandbox.maintenance import purge


class Command(BaseCommand):
    help = "Delete sandbox jobs, their result files and request-log rows older than N days."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=float, default=2.0)

    def handle(self, *args: Any, **options: Any) -> None:
        count = purge(timedelta(days=options["days"]))
        self.stdout.write(f"Purged {count} sandbox job(s).")
