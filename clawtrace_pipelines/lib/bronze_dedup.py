"""Which candidate rows are new, which are exact duplicates, and which reuse an event id with another time.

An event id is unique per tenant across dates (EVENTS.md: "globally unique; the dedup key everywhere"). The
table's merge key is (event_date, tenant_id, event_id), so a collector that sends an id again with another
`tsMs` (a bug, a replayed id, or a deliberate poison pill) would land the id twice, once per day, and every
model keyed on (tenant, event_id) downstream would refuse the whole build. Bronze therefore settles an id's
*canonical time* when it first lands and quarantines any later record of the same (tenant, event_id) with
another time as `event_id_reused`.

The check is bounded like every per-tick read: the ids of the tenants in the batch, in the event dates of the
batch plus `event_id_horizon_days` on each side. The documented rule beyond that horizon: a record reusing an
id more than that many days from its first occurrence is kept as a distinct event (its trace is dead-lettered
by silver if the two ever meet in one build, never the tick).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.lake.table import LakeTable
from clawtrace_pipelines.lib.bronze_rules import Rejection
from clawtrace_pipelines.lib.silver_pending import event_keys

REUSED = "event_id_reused"


@dataclass
class Classified:
    """Per candidate row: `new` (to insert) or `reused` (to quarantine); the rest are exact duplicates."""

    new: np.ndarray
    reused: np.ndarray
    canonical_ts: np.ndarray  # the time the id is held at (the table's, else the batch's first occurrence)


def classify(candidates: pa.Table, events: LakeTable, horizon_days: int) -> Classified:
    """Compare the batch with itself (first by file, then line) and with the ids `events` holds nearby."""
    n = candidates.num_rows
    if n == 0:
        empty = np.zeros(0, dtype=bool)
        return Classified(empty, empty, np.zeros(0, dtype=np.int64))
    codes = np.asarray(pc.dictionary_encode(event_keys(candidates)).combine_chunks().indices)
    ts = np.asarray(candidates.column("event_ts_ms").to_numpy())
    order = candidates.column("_file").to_numpy() * (1 << 32) + candidates.column("line").to_numpy()
    # The first row of each key in (file, line) order.
    by_key = np.lexsort((order, codes))
    starts = np.ones(n, dtype=bool)
    starts[1:] = codes[by_key][1:] != codes[by_key][:-1]
    first_row = np.empty(int(codes.max()) + 1, dtype=np.int64)
    first_row[codes[by_key][starts]] = by_key[starts]
    is_first = first_row[codes] == np.arange(n)
    canonical = ts[first_row[codes]]
    present = np.zeros(n, dtype=bool)
    if events.exists():
        held, held_ts = _held(candidates, events, horizon_days)
        if len(held_ts):
            at = pc.index_in(event_keys(candidates), value_set=held)
            present = np.asarray(pc.is_valid(at))
            canonical = np.where(present, held_ts[np.asarray(at.fill_null(0))], canonical)
    reused = ts != canonical
    return Classified(new=is_first & ~present & ~reused, reused=reused, canonical_ts=canonical)


def _held(candidates: pa.Table, events: LakeTable, horizon_days: int) -> tuple[pa.Array, np.ndarray]:
    """The (tenant, event_id) keys `events` holds for the batch's tenants near its dates, and their times."""
    days = set()
    for d in pc.unique(candidates.column("event_date")).to_pylist():
        days.update(d + timedelta(days=k) for k in range(-horizon_days, horizon_days + 1))
    tenants = pc.unique(candidates.column("tenant_id")).to_pylist()
    # Only the batch's ids come back (a big id set is applied in Arrow right after the scan), so the keys
    # below are built for the few matches, not for every id of the dates read.
    ids = pc.unique(candidates.column("event_id")).to_pylist()
    held = events.read(
        columns=["tenant_id", "event_id", "event_ts_ms"],
        filters=[("event_date", "in", sorted(days)), ("tenant_id", "in", tenants), ("event_id", "in", ids)],
    )
    if held.num_rows == 0:
        return pa.array([], pa.string()), np.zeros(0, dtype=np.int64)
    keys = event_keys(held)
    if isinstance(keys, pa.ChunkedArray):
        keys = keys.combine_chunks()
    return keys, np.asarray(held.column("event_ts_ms").to_numpy())


def reused_rejections(candidates: pa.Table, result: Classified, excerpt_chars: int) -> list[Rejection]:
    """Quarantine rows for the records that reuse an id with another time."""
    rows = candidates.filter(pa.array(result.reused))
    canonical = result.canonical_ts[result.reused].tolist()
    columns = ["raw_path", "line", "tenant_id", "agent_id", "event_id", "event_ts_ms", "payload_json"]
    out = []
    for row, first_ts in zip(rows.select(columns).to_pylist(), canonical, strict=True):
        payload = row["payload_json"]
        out.append(
            Rejection(
                raw_path=row["raw_path"],
                line=row["line"],
                reason_code=REUSED,
                reason=f"event id {row['event_id']!r} is already held with tsMs {first_ts}; this record has tsMs "
                f"{row['event_ts_ms']} (an event id is unique per tenant)",
                record_bytes=len(payload.encode()),
                excerpt=payload[:excerpt_chars],
                tenant_id=row["tenant_id"],
                agent_id=row["agent_id"],
                event_id=row["event_id"],
            )
        )
    return out
