"""The ingest machinery of one app (one per worker process): writer, rate limiter, agent directory.

Built when the app starts (inside the event loop the writer must run in; it first moves whatever a crashed
process left in the spool) and closed with the app (pending writes are finished and moved before it exits).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from clawtrace_api.accounts import Accounts
from clawtrace_api.deps import Services
from clawtrace_api.ingest.group_commit import GroupCommitWriter
from clawtrace_api.ingest.rate_limit import RateLimiter

_EXTRA = "ingest"


@dataclass
class AgentDirectory:
    """Whether an agent is a live (not deleted) agent of a tenant, cached like key lookups are.

    Only tenant-wide ingest keys need it: a key bound to an agent names its agent itself."""

    accounts: Accounts
    ttl_s: float
    _known: dict[tuple[str, str], tuple[bool, float]] = field(default_factory=dict)

    def forget(self) -> None:
        """Drop every cached answer (an agent was deleted in this process: refuse it now, not in `ttl_s`)."""
        self._known.clear()

    async def exists(self, tenant_id: str, agent_id: str) -> bool:
        now = time.monotonic()
        hit = self._known.get((tenant_id, agent_id))
        if hit is not None and hit[1] > now:
            return hit[0]
        live = await asyncio.to_thread(self.accounts.is_live_agent, tenant_id, agent_id)
        if len(self._known) >= 100_000:
            self._known.clear()
        self._known[(tenant_id, agent_id)] = (live, now + self.ttl_s)
        return live


@dataclass
class IngestRuntime:
    writer: GroupCommitWriter
    limiter: RateLimiter
    agents: AgentDirectory
    ready: asyncio.Future[None] | None = None


async def ingest_runtime(services: Services) -> IngestRuntime:
    """The app's ingest runtime, started on first use (the app's start-up uses it first, so a spool a crashed
    process left is moved before any request is served)."""
    runtime: IngestRuntime | None = services.extras.get(_EXTRA)
    if runtime is None:
        settings = services.settings
        runtime = IngestRuntime(
            writer=GroupCommitWriter(settings, live_agent=services.accounts.is_live_agent),
            limiter=RateLimiter(settings.ingest_rate_limit_per_s),
            agents=AgentDirectory(services.accounts, settings.key_cache_seconds),
        )
        # Stored before it has started: a request arriving meanwhile waits on `ready`, never starts a second one.
        runtime.ready = asyncio.ensure_future(runtime.writer.start())
        services.extras[_EXTRA] = runtime
        services.extras.setdefault("on_stop", []).append(runtime.writer.close)
    assert runtime.ready is not None
    if not runtime.ready.done():
        await asyncio.shield(runtime.ready)
    runtime.ready.result()
    return runtime
