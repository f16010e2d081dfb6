"""A per-key token bucket of events per second (off when the rate is 0).

In-process: each uvicorn worker counts on its own, so the limit a key sees is the rate times the workers
(documented on the setting). A shared limiter (Redis) would replace this class, not its callers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """`rate` events per second per key, with a burst of one second's worth (at least one event)."""

    def __init__(self, rate: float, *, max_keys: int = 100_000) -> None:
        self.rate = rate
        self.burst = max(rate, 1.0)
        self.max_keys = max_keys
        self._buckets: dict[str, _Bucket] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    def take(self, key_id: str, events: int) -> float:
        """Spend `events` tokens of `key_id`; returns 0 if allowed, else the seconds to wait before retrying.

        A request larger than the burst is allowed once the bucket is full (it would never fit otherwise),
        and leaves the bucket in debt, so the average rate still holds."""
        if not self.enabled:
            return 0.0
        now = time.monotonic()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            if len(self._buckets) >= self.max_keys:
                self._buckets.clear()
            bucket = self._buckets[key_id] = _Bucket(self.burst, now)
        bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.at) * self.rate)
        bucket.at = now
        cost = min(float(events), self.burst)
        if bucket.tokens >= cost:
            bucket.tokens -= events
            return 0.0
        return (cost - bucket.tokens) / self.rate


def retry_after(seconds: float) -> str:
    """A `Retry-After` value: whole seconds, at least 1."""
    return str(max(1, math.ceil(seconds)))
