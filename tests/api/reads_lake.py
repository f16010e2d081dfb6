"""The lake the read tests serve: simulated traffic for tenant A, a twin tenant B holding the same agent,
trace and span ids with other data, a live trace (no session_end yet) and an unpriced model in A, all ticked
through bronze, silver and the embedded graph; and silver read back directly, as the reference."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import PG_SPANS, PG_TRACES
from clawtrace_pipelines.lib.bronze import run_bronze
from clawtrace_pipelines.lib.graph_update import run_graph_update
from clawtrace_pipelines.lib.silver import run_silver
from clawtrace_pipelines.simulator import SimulationConfig, simulate
from tests.factories import batch_path, ndjson, record, write_raw

TENANT_B = "7a1e0000-0000-4000-8000-00000000a11e"
LIVE_TRACE = "live-trace-1"
B_ONLY_TRACE, B_ONLY_SPAN, B_ONLY_SESSION = "b-only-trace", "b-only-root", "agent:b-only:main"
UNPRICED_MODEL = "mystery-model-9000"
WINDOW = {"from_ms": 0, "to_ms": 2**52}
# Small enough that some simulated payloads are cut.
PAYLOAD_MAX_BYTES = 600


@dataclass
class ReadsLake:
    settings: Settings
    tenant_a: str
    agent_a: str
    now_ms: int


def _write_twin(settings: Settings, tenant: str) -> None:
    """Tenant B: tenant A's raw files with the tenant replaced and every third event left out."""
    raw = Path(settings.lake_root) / "raw" / "v1"
    for path in sorted((raw / f"tenant={tenant}").rglob("*.ndjson")):
        lines = path.read_text().splitlines()
        kept = [line.replace(tenant, TENANT_B) for n, line in enumerate(lines) if n % 3 != 1]
        twin = raw / f"tenant={TENANT_B}" / path.relative_to(raw / f"tenant={tenant}")
        twin.parent.mkdir(parents=True, exist_ok=True)
        twin.write_text("\n".join(kept) + "\n")


def _write_live_trace(settings: Settings, tenant: str, agent: str, now_ms: int) -> None:
    """A trace still running (started a minute ago, no session_end), whose one LLM call has no known price."""
    root, call = "live-root", "live-llm"
    events = [
        record(
            tenant,
            agent,
            event_id="live-1",
            event_type="session_start",
            trace_id=LIVE_TRACE,
            span_id=root,
            parent_span_id=None,
            ts_ms=now_ms - 60_000,
            payload={"sessionKey": "agent:live:main", "agentName": "live"},
        ),
        record(
            tenant,
            agent,
            event_id="live-2",
            event_type="llm_before_call",
            trace_id=LIVE_TRACE,
            span_id=call,
            parent_span_id=root,
            ts_ms=now_ms - 30_000,
            payload={"model": UNPRICED_MODEL, "provider": "nowhere", "prompt": "x" * 2000},
        ),
        record(
            tenant,
            agent,
            event_id="live-3",
            event_type="llm_after_call",
            trace_id=LIVE_TRACE,
            span_id=call,
            parent_span_id=root,
            ts_ms=now_ms - 20_000,
            payload={"model": UNPRICED_MODEL, "provider": "nowhere", "usage": {"input": 100, "output": 20}},
        ),
    ]
    path = batch_path(tenant, agent, now_ms - 60_000, name="batch-live.ndjson")
    write_raw(LakeStorage(settings), path, ndjson(events))


def _write_b_only_trace(settings: Settings, agent: str, now_ms: int) -> None:
    """A trace only tenant B has: its ids must be as unknown to A as ids that exist nowhere."""
    events = [
        record(
            TENANT_B,
            agent,
            event_id=f"b-only-{n}",
            event_type=kind,
            trace_id=B_ONLY_TRACE,
            span_id=B_ONLY_SPAN,
            parent_span_id=None,
            ts_ms=now_ms - 3_600_000 + n * 1000,
            payload={"sessionKey": B_ONLY_SESSION, "agentName": "b-only"},
        )
        for n, kind in enumerate(("session_start", "session_end"))
    ]
    path = batch_path(TENANT_B, agent, now_ms - 3_600_000, name="batch-b-only.ndjson")
    write_raw(LakeStorage(settings), path, ndjson(events))


def build(root: Path) -> ReadsLake:
    settings = Settings(
        lake=str(root / "lake"),
        db=f"sqlite:///{root}/api.db",
        key_cache_seconds=0,
        payload_max_bytes=PAYLOAD_MAX_BYTES,
    )
    now = datetime.now(UTC)
    start = (now - timedelta(hours=6)).replace(minute=0, second=0, microsecond=0)
    manifest = simulate(
        settings,
        SimulationConfig(start=start, hours=4, tenants=1, agents_per_tenant=2, traces=6, seed=21, layout="batched"),
        now=now,
    )
    tenant, agent = manifest.tenant_ids[0], manifest.agent_ids[0]
    _write_twin(settings, tenant)
    now_ms = int(time.time() * 1000)
    _write_live_trace(settings, tenant, agent, now_ms)
    _write_b_only_trace(settings, agent, now_ms)
    run_bronze(settings, now=datetime.now(UTC), reconcile=True)
    run_silver(settings)
    run_graph_update(settings)
    return ReadsLake(settings=settings, tenant_a=tenant, agent_a=agent, now_ms=now_ms)


def read_keys(lake: ReadsLake, accounts: Any) -> dict[str, str]:
    """Tenants A and B registered in the API database, with a read key each: tenant id -> key."""
    keys = {}
    for tenant in (lake.tenant_a, TENANT_B):
        accounts.create_tenant(tenant[:8], tenant_id=tenant)
        keys[tenant] = accounts.create_key(tenant, "read")["key"]
    return keys


def silver_traces(settings: Settings, tenant: str) -> list[dict[str, Any]]:
    return open_table(PG_TRACES, settings).read(filters=[("tenant_id", "=", tenant)]).to_pylist()


def silver_spans(settings: Settings, tenant: str) -> list[dict[str, Any]]:
    return open_table(PG_SPANS, settings).read(filters=[("tenant_id", "=", tenant)]).to_pylist()
