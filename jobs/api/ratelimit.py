"""Per-token rate limit: a fixed window counter in Django's cache.

With Redis configured (REDIS_URL) every web process shares the counters; with the local
memory cache each process counts on its own, which still stops a runaway script.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache

WINDOW_SECONDS = 60
# The clock the windows are counted on (tests pin it so no window boundary falls mid-test).
clock = time.time


@dataclass
class Verdict:
    allowed: bool
    limit: int
    remaining: int
    retry_after: int  # seconds until the window resets

    def headers(self) -> dict[str, str]:
        values = {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
        }
        if not self.allowed:
            values["Retry-After"] = str(self.retry_after)
        return values


def limit_per_minute() -> int:
    return int(getattr(settings, "API_RATE_LIMIT_PER_MINUTE", 120))


def hit(key: str, *, now: float | None = None) -> Verdict:
    """Count one request for `key` (a token's hash prefix, unique across databases)."""
    now = clock() if now is None else now
    limit = limit_per_minute()
    window = int(now // WINDOW_SECONDS)
    cache_key = f"api-rate:{key}:{window}"
    cache.add(cache_key, 0, timeout=WINDOW_SECONDS + 5)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.set(cache_key, 1, timeout=WINDOW_SECONDS + 5)
        count = 1
    retry_after = max(1, math.ceil((window + 1) * WINDOW_SECONDS - now))
    return Verdict(count <= limit, limit, max(0, limit - count), retry_after)
