"""The key lookup cache: ingest authenticates every event without asking the database each time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from clawtrace_api.accounts import Accounts, Principal
from clawtrace_api.keys import key_hash


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _Entry:
    principal: Principal | None
    expires: float


@dataclass
class KeyCache:
    """Key lookups cached for `ttl_s` seconds, so ingest does not query the database per event.

    A revoked key keeps working for at most `ttl_s` in a process that looked it up just before; unknown
    keys are cached too (bounded), so a flood of bad keys costs one query per key per `ttl_s`.
    """

    accounts: Accounts
    ttl_s: float = 5.0
    max_entries: int = 10_000
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _used: dict[str, datetime] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _last_flush: float = 0.0

    def peek(self, secret: str) -> tuple[bool, Principal | None]:
        """(Whether the lookup is cached and fresh, its principal), without touching the database; a hit
        counts as a use of the key. For the event loop: on a miss, run `lookup` in a thread."""
        h = key_hash(secret)
        with self._lock:
            entry = self._entries.get(h)
            if entry is None or entry.expires <= time.monotonic():
                return False, None
            if entry.principal is not None:
                self._used[entry.principal.key_id] = _now()
            return True, entry.principal

    def forget(self, secret: str) -> None:
        """Drop a cached lookup (a web UI sign-out), so this process stops honouring it at once."""
        with self._lock:
            self._entries.pop(key_hash(secret), None)

    def usage_due(self) -> bool:
        """Whether last-used times are waiting longer than the cache's bound to be written."""
        return bool(self._used) and time.monotonic() - self._last_flush > max(self.ttl_s, 1.0)

    def lookup(self, secret: str) -> Principal | None:
        now = time.monotonic()
        h = key_hash(secret)
        with self._lock:
            entry = self._entries.get(h)
        if entry is None or entry.expires <= now:
            principal = self.accounts.principal_of(secret)
            with self._lock:
                if len(self._entries) >= self.max_entries:
                    self._entries.clear()
                self._entries[h] = _Entry(principal, now + self.ttl_s)
            flush = True
        else:
            principal = entry.principal
            flush = now - self._last_flush > max(self.ttl_s, 1.0)
        if principal is not None:
            with self._lock:
                self._used[principal.key_id] = _now()
        if flush:
            self.flush_usage()
        return principal

    def flush_usage(self) -> None:
        with self._lock:
            used, self._used = self._used, {}
            self._last_flush = time.monotonic()
        self.accounts.touch_keys(used)

    def invalidate(self) -> None:
        """Forget every cached lookup (this process revoked a key: take effect now, not in `ttl_s`)."""
        with self._lock:
            self._entries.clear()
