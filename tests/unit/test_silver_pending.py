"""The silver queue settles a file only against the events it names, and drops one whose events never land."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from clawtrace_pipelines.core.lake.storage import LakeStorage
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.lib.silver_pending import EXPIRY, PendingTraces, queued_events


def _events(*ids: str) -> pa.Table:
    return pa.table(
        {
            "tenant_id": ["t"] * len(ids),
            "trace_id": ["tr"] * len(ids),
            "event_id": list(ids),
            "event_ts_ms": list(range(len(ids))),
        }
    )


def test_a_file_is_settled_only_when_every_event_it_names_was_seen(tmp_path) -> None:
    queue = PendingTraces(LakeStorage(Settings(lake=str(tmp_path))))
    # The file's stamp is a backfill's time long ago; the expiry still counts from the wall clock.
    queue.add(queued_events(_events("a", "b")), now=datetime(2020, 1, 1, tzinfo=UTC))
    batch = queue.read()
    assert sorted(batch.queued_event_keys().to_pylist()) == ["t\x1fa", "t\x1fb"]
    none = pa.array([], pa.string())
    kept = queue.settle(batch, pa.array(["t\x1fa"]), none)
    assert (kept.settled, kept.kept, kept.expired) == (0, 1, 0)
    assert queue.settle(queue.read(), none, pa.array(["t\x1ftr"])).settled == 1, "a dead-lettered trace settles"

    queue.add(queued_events(_events("c")))
    assert queue.settle(queue.read(), pa.array(["t\x1fc"]), none).settled == 1


def test_a_file_whose_events_never_land_is_dropped_after_the_expiry(tmp_path) -> None:
    queue = PendingTraces(LakeStorage(Settings(lake=str(tmp_path))))
    queue.add(queued_events(_events("lost")))
    none = pa.array([], pa.string())
    soon = datetime.now(UTC) + EXPIRY - timedelta(minutes=5)
    assert queue.settle(queue.read(), none, none, now=soon).kept == 1
    later = datetime.now(UTC) + EXPIRY + timedelta(minutes=5)
    assert queue.settle(queue.read(), none, none, now=later).expired == 1
    assert not queue.read().files
