"""TraceCards from the lake: the gold `trace_cards` table is not in the graph (the graph holds what its queries
walk; a card is read whole, by key), so a card is read from the table, pruned to its trace's day partition and
filtered by the caller's tenant - filters, not SQL text, so nothing from the request reaches a query."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import TRACE_CARDS
from clawtrace_pipelines.core.trace_cards import read_card


class CardReader:
    """One open `trace_cards` table for the app (as `PayloadReader` holds `pg_spans`): delta-rs refreshes it
    between reads, cheaper than opening the log per request; reads take turns, the handle is not thread-safe."""

    def __init__(self, settings: Settings) -> None:
        self._table = open_table(TRACE_CARDS, settings)
        self._lock = threading.Lock()

    def read(self, tenant_id: str, trace_id: str, trace_start_ms: int) -> dict[str, Any]:
        """The trace's card document, or {} when the lake has none yet (a trace the graph has but gold not)."""
        day = dt.datetime.fromtimestamp(trace_start_ms / 1000, tz=dt.UTC).date()
        with self._lock:
            return read_card(self._table, tenant_id, trace_id, day)
