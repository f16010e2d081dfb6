"""Remove one agent's data from the lake: its raw files, its rows in every table, its part of the graph.

What `clawtrace agents purge` and `DELETE /v1/agents/{id}?purge=true` run after the agent's keys are revoked
(so nothing new arrives). It holds the bronze and silver locks, so no tick loads a file it is deleting or
publishes rows it has just removed; queued hand-off entries of the agent find no rows and expire.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pyarrow.compute as pc

from clawtrace_pipelines.core.events import check_uuid
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.lake.storage import RAW_PREFIX, LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import (
    EVENTS_ALL,
    EVENTS_REJECTED,
    LLM_SPEND_DAILY,
    PG_AGENTS,
    PG_CHILD_OF_EDGES,
    PG_SPANS,
    PG_TRACES,
    PROCESSED_FILES,
    SILVER_DEAD_LETTERS,
    SPAN_ROLLUP,
    TRACE_CARDS,
    TableSpec,
)
from clawtrace_pipelines.lib.lake_lock import LakeLock

log = logging.getLogger(__name__)

GROUP_WRITE_MARGIN_S = 1.0

# Every table with an agent_id column, children before parents.
_BY_AGENT: tuple[TableSpec, ...] = (
    PG_CHILD_OF_EDGES,
    PG_SPANS,
    PG_TRACES,
    SPAN_ROLLUP,
    LLM_SPEND_DAILY,
    TRACE_CARDS,
    PG_AGENTS,
    EVENTS_REJECTED,
)


def purge_agent(settings: Settings, tenant_id: str, agent_id: str) -> dict[str, Any]:
    """Delete the agent's raw files and rows; rebuild its tenant's embedded graph.

    Returns:
        `{tenant_id, agent_id, raw_files, rows: {table: n}, graph}`: what was removed.

    Raises:
        InvalidIdError: an id is not a UUID (both are storage path segments).
    """
    tenant_id = check_uuid(tenant_id, "tenant")
    agent_id = check_uuid(agent_id, "agent")
    # API workers trust a key lookup (and an agent's liveness) for up to `key_cache_seconds` after the delete,
    # a group write takes milliseconds, and the spool moves accepted events to raw files within
    # `ingest_spool_flush_ms`: wait that out, so no event accepted before the revoke took effect everywhere
    # lands after the files are removed and comes back on the next tick.
    spool_s = 0.0 if settings.lake_is_remote else settings.ingest_spool_flush_ms / 1000
    time.sleep(settings.key_cache_seconds + spool_s + GROUP_WRITE_MARGIN_S)
    storage = LakeStorage(settings)
    prefix = f"{RAW_PREFIX}/tenant={tenant_id}/agent={agent_id}"
    rows: dict[str, int] = {}
    with LakeLock(storage, "bronze").hold(), LakeLock(storage, "silver").hold():
        raw = [f.path for f in storage.walk_files(prefix)]
        if raw:
            storage.fs.rm(storage.full(prefix), recursive=True)
        mine = [("tenant_id", "=", tenant_id), ("agent_id", "=", agent_id)]
        traces = open_table(PG_TRACES, settings)
        trace_ids = traces.read(columns=["trace_id"], filters=mine).column("trace_id") if traces.exists() else None
        rows[EVENTS_ALL.name] = _delete(settings, EVENTS_ALL, mine)
        for spec in _BY_AGENT:
            rows[spec.name] = _delete(settings, spec, mine)
        if trace_ids is not None and len(trace_ids):
            ids = pc.unique(trace_ids).to_pylist()
            rows[SILVER_DEAD_LETTERS.name] = _delete(
                settings, SILVER_DEAD_LETTERS, [("tenant_id", "=", tenant_id), ("trace_id", "in", ids)]
            )
        rows[PROCESSED_FILES.name] = _forget_files(settings, raw)
    graph = _rebuild_graph(settings, tenant_id)
    report = {"tenant_id": tenant_id, "agent_id": agent_id, "raw_files": len(raw), "rows": rows, "graph": graph}
    log.info("purged agent %s of tenant %s: %d raw files, rows %s", agent_id, tenant_id, len(raw), rows)
    return report


def _delete(settings: Settings, spec: TableSpec, filters: list[Any]) -> int:
    table = open_table(spec, settings)
    return table.delete(filters) if table.exists() else 0


def _forget_files(settings: Settings, paths: list[str]) -> int:
    """Drop the processed-files entries of deleted raw files (by their folder date: one partition each)."""
    table = open_table(PROCESSED_FILES, settings)
    if not paths or not table.exists():
        return 0
    by_dt: dict[str, list[str]] = {}
    for path in paths:
        dt = next((p[3:] for p in path.split("/") if p.startswith("dt=")), None)
        if dt is not None:
            by_dt.setdefault(dt, []).append(path)
    removed = 0
    for dt, group in sorted(by_dt.items()):
        # In slices: a table format binds each `in` value into its delete predicate.
        for i in range(0, len(group), 500):
            removed += table.delete([("dt", "=", dt), ("path", "in", group[i : i + 500])])
    return removed


def _rebuild_graph(settings: Settings, tenant_id: str) -> str:
    if settings.graph != "embedded":
        # PuppyGraph reads the lake's tables in place: the deleted rows are gone from it already.
        return "served from the lake"
    from clawtrace_pipelines.core.graph.embedded import EmbeddedGraph

    report = EmbeddedGraph(settings).rebuild_tenants([tenant_id])
    return f"tenant snapshot rebuilt ({report.vertices.get('Trace', 0)} traces left)"
