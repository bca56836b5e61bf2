"""The sandbox's idea of "now", in one place so tests can move it (monkeypatch `now`)."""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    return timezone.now()
