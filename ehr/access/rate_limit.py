"""Per-client rate limiting: a token bucket per caller, 429 with ``Retry-After`` when empty.

In memory, per worker process: with N workers a client gets up to N times the limit, which
is documented; a shared limiter (Redis, or the API gateway in front) is the production
answer when the exchange runs many workers.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field

from ehr.errors import TooManyRequests


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RateLimiter:
    """``per_minute`` requests per caller, refilled continuously, bursts up to the same."""

    per_minute: int
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, caller: str) -> None:
        """Take one request from ``caller``'s bucket, or raise ``TooManyRequests``."""
        if self.per_minute <= 0:
            return
        now = time.monotonic()
        rate = self.per_minute / 60.0
        with self._lock:
            bucket = self._buckets.get(caller)
            if bucket is None:
                bucket = self._buckets[caller] = _Bucket(float(self.per_minute), now)
            bucket.tokens = min(self.per_minute, bucket.tokens + (now - bucket.updated) * rate)
            bucket.updated = now
            if bucket.tokens >= 1:
                bucket.tokens -= 1
                return
            wait = math.ceil((1 - bucket.tokens) / rate)
        raise TooManyRequests(
            f"rate limit of {self.per_minute} requests per minute exceeded",
            headers={"Retry-After": str(wait)},
        )
