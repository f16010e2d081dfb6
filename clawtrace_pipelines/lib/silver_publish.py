"""Publishing one silver build to the lake, crash-safe: a journal first, then idempotent steps, then the
journal's removal.

A build changes several tables (traces, spans, edges, agents, tenants, the rollup, the gold llm_spend_daily and
trace_cards, the graph entitlements, the dead letters, the graph's queue), and no table format commits across
tables. So the built rows are first written to a journal (`state/silver/journal/<id>/`: one Parquet file per table, then
`manifest.json`, the journal's commit point). Each step is idempotent (deletes by exact key, merges that skip
equal rows, a replace of exactly the recomputed (tenant, day) groups of the rollup and of llm_spend_daily, a
graph queue file named by the journal), so a run that finds a journal left by a crashed run (under the silver
lock, before reading the queue) applies it again from the start and removes it; the crashed run's queue files
were not settled, so their traces are recomputed as well.
A journal without a manifest was never applied and is removed.
"""

from __future__ import annotations

import io
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from clawtrace_pipelines.core.graph.puppygraph import entitlements_rows
from clawtrace_pipelines.core.lake import LakeTable, open_table
from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import (
    ENTITLEMENTS,
    LLM_SPEND_DAILY,
    PG_AGENTS,
    PG_CHILD_OF_EDGES,
    PG_SPANS,
    PG_TENANTS,
    PG_TRACES,
    PUBLISHED_TABLES,
    SPAN_ROLLUP,
    TRACE_CARDS,
)
from clawtrace_pipelines.lib import silver_dead_letters
from clawtrace_pipelines.lib.silver_pending import GRAPH_PENDING_DIR, PendingTraces, trace_keys

log = logging.getLogger(__name__)

JOURNAL_DIR = "state/silver/journal"
MANIFEST = "manifest.json"
# In order; each is safe to apply again after any of them (or none) took effect.
STEPS = (
    "delete_moved",
    PG_TRACES.name,
    PG_SPANS.name,
    PG_CHILD_OF_EDGES.name,
    PG_AGENTS.name,
    PG_TENANTS.name,
    SPAN_ROLLUP.name,
    LLM_SPEND_DAILY.name,
    TRACE_CARDS.name,
    ENTITLEMENTS.name,
    "dead_letters",
    "graph_queue",
)


@dataclass
class Publication:
    """The rows one build publishes, and what they replace."""

    built: dict[str, pa.Table]  # PUBLISHED_TABLES name -> rows
    moved: list[tuple[date, str, list[str]]]  # (old trace_date, tenant, trace ids) whose old rows go
    rollup_days: list[date]
    rollup_tenants: list[str]
    graph_traces: pa.Table  # PENDING_SCHEMA rows for the graph's queue
    journal_id: str = field(default_factory=lambda: f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex}")


@dataclass
class PublishCounts:
    written: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, int] = field(default_factory=dict)
    moved_traces: int = 0

    def count(self, table: str, written: int = 0, deleted: int = 0) -> None:
        self.written[table] = self.written.get(table, 0) + written
        self.deleted[table] = self.deleted.get(table, 0) + deleted


def moved_traces(prior: pa.Table, traces: pa.Table) -> list[tuple[date, str, list[str]]]:
    """Traces whose trace_date changed (a late event before their start): their rows on the old day."""
    new_day = dict(zip(trace_keys(traces).to_pylist(), traces.column("trace_date").to_pylist(), strict=True))
    moved: dict[tuple[date, str], list[str]] = {}
    for key, old_day, tenant, trace in zip(
        trace_keys(prior).to_pylist(),
        prior.column("trace_date").to_pylist(),
        prior.column("tenant_id").to_pylist(),
        prior.column("trace_id").to_pylist(),
        strict=True,
    ):
        if key in new_day and new_day[key] != old_day:
            moved.setdefault((old_day, tenant), []).append(trace)
    return [(day, tenant, sorted(ids)) for (day, tenant), ids in sorted(moved.items())]


class Journal:
    """The publish journal of one lake."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.storage = LakeStorage(settings)

    def publish(self, publication: Publication, counts: PublishCounts) -> None:
        """Write the journal, apply every step, remove the journal."""
        folder = f"{JOURNAL_DIR}/{publication.journal_id}"
        for name, rows in publication.built.items():
            self.storage.write_bytes(f"{folder}/{name}.parquet", _parquet(rows))
        self.storage.write_bytes(f"{folder}/graph_traces.parquet", _parquet(publication.graph_traces))
        manifest = {
            "moved": [[d.isoformat(), tenant, ids] for d, tenant, ids in publication.moved],
            "rollup_days": [d.isoformat() for d in publication.rollup_days],
            "rollup_tenants": publication.rollup_tenants,
        }
        self.storage.write_bytes(f"{folder}/{MANIFEST}", orjson.dumps(manifest))
        apply(self.settings, publication, counts)
        self._remove(folder)

    def replay(self, counts: PublishCounts) -> int:
        """Apply again every journal a crashed run left (oldest first); returns how many were applied."""
        applied = 0
        for folder in self.storage.ls_dirs(JOURNAL_DIR):
            path = f"{JOURNAL_DIR}/{folder}"
            if self.storage.exists(f"{path}/{MANIFEST}"):
                log.warning("silver: applying the journal %s a crashed run left", folder)
                apply(self.settings, self._load(path, folder), counts)
                applied += 1
            self._remove(path)
        return applied

    def _load(self, path: str, journal_id: str) -> Publication:
        manifest = orjson.loads(self.storage.read_bytes(f"{path}/{MANIFEST}"))
        # A journal written before a table existed has no file for it: that step is skipped (_apply).
        built = {
            spec.name: _read(self.storage, f"{path}/{spec.name}.parquet", spec.schema)
            for spec in PUBLISHED_TABLES
            if self.storage.exists(f"{path}/{spec.name}.parquet")
        }
        return Publication(
            built=built,
            moved=[(date.fromisoformat(d), tenant, ids) for d, tenant, ids in manifest["moved"]],
            rollup_days=[date.fromisoformat(d) for d in manifest["rollup_days"]],
            rollup_tenants=manifest["rollup_tenants"],
            graph_traces=pq.read_table(io.BytesIO(self.storage.read_bytes(f"{path}/graph_traces.parquet"))),
            journal_id=journal_id,
        )

    def _remove(self, folder: str) -> None:
        # The manifest first: a crash midway leaves a journal without one, which is never applied.
        for f in sorted(self.storage.ls_files(folder), key=lambda f: not f.path.endswith(MANIFEST)):
            self.storage.fs.rm_file(self.storage.full(f.path))
        if not self.settings.lake_is_remote:
            self.storage.fs.rm(self.storage.full(folder), recursive=True)


def apply(settings: Settings, publication: Publication, counts: PublishCounts) -> None:
    """Every step of a publication, in order."""
    tables = {spec.name: open_table(spec, settings) for spec in (*PUBLISHED_TABLES, ENTITLEMENTS)}
    for step in STEPS:
        _apply(step, settings, tables, publication, counts)


def _apply(
    step: str, settings: Settings, tables: dict[str, LakeTable], pub: Publication, counts: PublishCounts
) -> None:
    built = pub.built
    if step in tables and step != ENTITLEMENTS.name and step not in built:
        # A journal of an earlier release, from before the table existed. Skipped rather than failing every run;
        # the next recomputation of a (tenant, day) group corrects it, a group only this journal named (a moved
        # trace's old day) waits for a backfill of that day.
        log.warning(
            "silver: the journal %s has no rows for %s; skipped (backfill the days %s if they look stale)",
            pub.journal_id,
            step,
            ", ".join(d.isoformat() for d in pub.rollup_days),
        )
    elif step == "delete_moved":
        for old_day, tenant, ids in pub.moved:
            counts.moved_traces += len(ids)
            for spec in (PG_TRACES, PG_SPANS, PG_CHILD_OF_EDGES, TRACE_CARDS):
                deleted = tables[spec.name].delete(
                    [("trace_date", "=", old_day), ("tenant_id", "=", tenant), ("trace_id", "in", ids)]
                )
                counts.count(spec.name, deleted=deleted)
    elif step in (SPAN_ROLLUP.name, LLM_SPEND_DAILY.name):
        # Both are recomputed for whole (tenant, day) groups: the groups' old rows go, in the same commit.
        scope: list[tuple[str, str, Any]] = [("day", "in", pub.rollup_days), ("tenant_id", "in", pub.rollup_tenants)]
        deleted = tables[step].replace(scope, built[step])
        counts.count(step, written=built[step].num_rows, deleted=deleted)
    elif step == ENTITLEMENTS.name:
        # PuppyGraph's row-level security reads which graph user may see which tenant from the lake.
        counts.count(step, written=tables[step].merge(entitlements_rows(built[PG_TENANTS.name])).changed)
    elif step == "dead_letters":
        silver_dead_letters.clear(settings, built[PG_TRACES.name])
    elif step == "graph_queue":
        # After the tables: the graph projection then reads rows that are already there.
        PendingTraces(LakeStorage(settings), GRAPH_PENDING_DIR).add(pub.graph_traces, name=pub.journal_id)
    else:
        counts.count(step, written=tables[step].merge(built[step]).changed)


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def _read(storage: LakeStorage, path: str, schema: pa.Schema) -> pa.Table:
    return pq.read_table(io.BytesIO(storage.read_bytes(path))).select(schema.names).cast(schema)
