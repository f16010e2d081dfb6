"""The deficit guard: ingest and reads answer 402 for a tenant whose credit balance is below zero.

Off by default (`CLAWTRACE_BILLING_GUARD=true` turns it on). The balance is the `credit_balance` row the last
billing run computed, cached per tenant for `billing_guard_cache_seconds` (at most a minute), so a grant
lifts the guard at most a billing run plus a minute after it is made.

It **fails open**: when the balance cannot be read (the lake unreachable, a table being rewritten), the
request goes through and a warning is logged; the outcome is cached like a balance, so a broken lake costs
one read attempt per tenant per cache period, not one per request. Refusing service because billing
storage hiccupped would turn a billing fault into an outage; the usage is still metered and charged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from clawtrace_api.errors import Problem
from clawtrace_api.views.billing import read_balance
from clawtrace_pipelines.core.settings import Settings

log = logging.getLogger(__name__)

_MAX_ENTRIES = 100_000


@dataclass
class DeficitGuard:
    settings: Settings
    clock: Callable[[], float] = time.monotonic
    # tenant -> (balance, or None when unknown or unreadable; expiry on `clock`)
    _cache: dict[str, tuple[Decimal | None, float]] = field(default_factory=dict)

    @property
    def enabled(self) -> bool:
        return self.settings.billing_guard

    async def check(self, tenant_id: str) -> None:
        """Raise a 402 Problem when the guard is on and the tenant's balance is below zero."""
        if not self.enabled:
            return
        balance = await self.balance(tenant_id)
        if balance is not None and balance < 0:
            raise Problem(
                402,
                "payment-required",
                f"this tenant's credit balance is {balance.normalize():f} credits (below zero): ingest and reads "
                "are paused until credits are granted (clawtrace credits grant); GET /v1/billing/balance and "
                "/v1/billing/usage stay available",
                title="Credit deficit",
            )

    async def balance(self, tenant_id: str) -> Decimal | None:
        now = self.clock()
        hit = self._cache.get(tenant_id)
        if hit is not None and hit[1] > now:
            return hit[0]
        try:
            row = await asyncio.to_thread(read_balance, self.settings, tenant_id)
            value = None if row is None else Decimal(row["balance"])
        except Exception as exc:  # noqa: BLE001 - fail open: any read error lets the request through
            log.warning("deficit guard: cannot read the balance of %s, letting it through: %s", tenant_id, exc)
            value = None
        if len(self._cache) >= _MAX_ENTRIES:
            self._cache.clear()
        self._cache[tenant_id] = (value, now + self.settings.billing_guard_cache_seconds)
        return value
