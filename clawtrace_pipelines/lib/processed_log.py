"""The processed-files log: which raw files and arrival records the bronze layer has consumed.

It lives in the lake (table `processed_files`), so another machine or a fresh Dagster instance continues
where the last one stopped. It is written after the tables it describes: a crash in between leaves files
that look unprocessed, and re-processing them is harmless because the bronze merge is idempotent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from clawtrace_pipelines.core.lake import LakeTable, open_table
from clawtrace_pipelines.core.lake.storage import FileInfo
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import PROCESSED_FILES, TableSpec


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One processed file with its counts (records_read = accepted + rejected + shadow + duplicates)."""

    path: str
    kind: str  # "raw" or "arrival"
    dt: str
    size: int
    fingerprint: str | None
    records_read: int = 0
    accepted: int = 0
    rejected: int = 0
    shadow_duplicates: int = 0
    duplicates: int = 0


def folder_date(relpath: str) -> str:
    """The `dt=` folder value of a raw or arrival path ('' when the path has none)."""
    marker = "/dt="
    at = relpath.find(marker)
    return relpath[at + len(marker) : at + len(marker) + 10] if at >= 0 else ""


class ProcessedLog:
    """Reads and writes the `processed_files` table (or another log of its schema, such as billing's
    `billing_files`), one `dt` partition at a time."""

    def __init__(self, settings: Settings, spec: TableSpec = PROCESSED_FILES) -> None:
        self.table: LakeTable = open_table(spec, settings)

    def unprocessed(self, candidates: Iterable[FileInfo]) -> list[FileInfo]:
        """The candidates the log does not hold, or holds with another size or fingerprint.

        Reads only the log partitions of the candidates' folder dates.
        """
        by_path = {c.path: c for c in candidates}
        if not by_path:
            return []
        known = self._known(by_path)
        fresh = []
        for path, cand in by_path.items():
            seen = known.get(path)
            if seen is None or seen[0] != cand.size:
                fresh.append(cand)
            elif cand.fingerprint and seen[1] and cand.fingerprint != seen[1]:
                fresh.append(cand)
        return sorted(fresh, key=lambda f: f.path)

    def _known(self, by_path: dict[str, FileInfo]) -> dict[str, tuple[int, str | None]]:
        paths_by_dt: dict[str, list[str]] = defaultdict(list)
        for path in by_path:
            paths_by_dt[folder_date(path)].append(path)
        if not self.table.exists():
            return {}
        log = self.table.read(columns=["path", "size", "fingerprint"], filters=[("dt", "in", sorted(paths_by_dt))])
        return {
            p: (s, f)
            for p, s, f in zip(
                log.column("path").to_pylist(),
                log.column("size").to_pylist(),
                log.column("fingerprint").to_pylist(),
                strict=True,
            )
            if p in by_path
        }

    def record(self, entries: list[LogEntry], *, processed_at: datetime, run_id: str | None) -> None:
        """Upsert entries (a re-processed file replaces its earlier entry)."""
        if not entries:
            return
        columns: dict[str, list] = {name: [] for name in self.table.spec.schema.names}
        for e in entries:
            for name in LogEntry.__dataclass_fields__:
                columns[name].append(getattr(e, name))
            columns["processed_at"].append(processed_at)
            columns["run_id"].append(run_id)
        self.table.merge(pa.table(columns, schema=self.table.spec.schema))

    def entries(self, paths: Iterable[str]) -> pa.Table:
        """Log rows of the given paths (for checks and tests)."""
        wanted = sorted(set(paths))
        if not wanted or not self.table.exists():
            return self.table.spec.schema.empty_table()
        dts = sorted({folder_date(p) for p in wanted})
        return self.table.read(filters=[("dt", "in", dts), ("path", "in", wanted)])
