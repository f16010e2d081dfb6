"""Finding new raw files exactly once, without listing the whole lake on a tick.

Raw folders are by *event* hour, so a late event lands in an old folder. Three sources, cheapest first:

1. Arrival records (`raw/_arrivals/dt=/hr=/<uuid>.json`) that writers we own drop next to their files,
   foldered by arrival hour: a tick reads only the arrival folders from its cursor on.
2. A lateness window for foreign writers: the last `lateness_window_hours` event-hour folders of every agent
   with recent activity (`ActiveAgents`: raw files of it were processed within `listing_active_days`), so
   its cost grows with the agents at work now, neither with the lake's history nor with every agent ever
   seen. The trade-off: a foreign writer's file for an agent silent for longer than that (and a brand-new
   agent's first file, when no arrival record names it) waits for the daily sweep. `listing_active_days=0`
   lists every agent each tick instead (one listing per agent and hour, as the original did).
3. A reconciliation sweep (daily, or `clawtrace tick --reconcile`) that lists everything under `raw/v1`.

Whatever the source, a file is processed when the processed-files log lacks it (or holds another size).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from clawtrace_pipelines.core.errors import LakeLayoutError
from clawtrace_pipelines.core.lake.storage import (
    ARRIVALS_PREFIX,
    RAW_PREFIX,
    STATE_PREFIX,
    FileInfo,
    LakeStorage,
    hour_folder,
    parse_raw_path,
)
from clawtrace_pipelines.lib.processed_log import ProcessedLog

log = logging.getLogger(__name__)

CURSOR_PATH = f"{STATE_PREFIX}/bronze/cursor.json"
ACTIVE_AGENTS_PATH = f"{STATE_PREFIX}/bronze/active_agents.json"


class ActiveAgents:
    """The agent folders (`tenant=<t>/agent=<a>`) with raw files processed lately, and the day last seen.

    One small JSON object in the lake's state, updated by each bronze run with the agents of the files it
    processed; agents not seen for `days` drop out. None before the first run: the window lists every agent.
    """

    def __init__(self, storage: LakeStorage, days: int) -> None:
        self.storage = storage
        self.days = days

    def read(self) -> dict[str, str] | None:
        if self.days <= 0 or not self.storage.exists(ACTIVE_AGENTS_PATH):
            return None
        value = self.storage.read_json(ACTIVE_AGENTS_PATH)
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else None

    def update(self, processed_paths: list[str], now: datetime) -> None:
        """Mark the agents of these raw files as seen today and forget those silent for `days`."""
        if self.days <= 0:
            return
        known = self.read() or {}
        today = f"{now.astimezone(UTC):%Y-%m-%d}"
        oldest = f"{now.astimezone(UTC) - timedelta(days=self.days):%Y-%m-%d}"
        seen = dict(known)
        for path in processed_paths:
            try:
                raw = parse_raw_path(path)
            except LakeLayoutError:
                continue
            seen[f"tenant={raw.tenant}/agent={raw.agent}"] = today
        seen = {agent: day for agent, day in seen.items() if day >= oldest}
        if seen != known or not self.storage.exists(ACTIVE_AGENTS_PATH):
            self.storage.write_json(ACTIVE_AGENTS_PATH, seen)


@dataclass
class Discovery:
    """What a tick will process: raw files, and the arrival records that named them."""

    files: list[FileInfo] = field(default_factory=list)
    arrivals: list[FileInfo] = field(default_factory=list)
    listings: int = 0
    sources: dict[str, int] = field(default_factory=dict)


def read_cursor(storage: LakeStorage) -> datetime | None:
    """The first arrival hour the next tick must read (None on a fresh lake)."""
    if not storage.exists(CURSOR_PATH):
        return None
    value = storage.read_json(CURSOR_PATH)["arrivals_from"]
    return datetime.fromisoformat(value).astimezone(UTC)


def write_cursor(storage: LakeStorage, arrivals_from: datetime) -> None:
    storage.write_json(CURSOR_PATH, {"arrivals_from": arrivals_from.astimezone(UTC).isoformat()})


def prune_arrivals(storage: LakeStorage, overlap_hours: int) -> int:
    """Delete the arrival days wholly before the cursor's overlap: every record in them was read and logged
    by an earlier tick (the cursor moves only after the log is written), so no tick reads them again, and
    the arrival listing stays as short as the time since the last tick. Returns the days removed."""
    cursor = read_cursor(storage)
    if cursor is None:
        return 0
    keep_from = f"dt={_hour(cursor) - timedelta(hours=overlap_hours):%Y-%m-%d}"
    removed = 0
    for dt_dir in storage.ls_dirs(ARRIVALS_PREFIX):
        if dt_dir < keep_from:
            storage.fs.rm(storage.full(f"{ARRIVALS_PREFIX}/{dt_dir}"), recursive=True)
            removed += 1
    return removed


def _hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


class FileDiscovery:
    """Lists candidate raw files for a tick, an hourly backfill, or a reconciliation sweep."""

    def __init__(self, storage: LakeStorage, processed: ProcessedLog, active: ActiveAgents | None = None) -> None:
        self.storage = storage
        self.processed = processed
        self.active = active
        self.listings = 0

    def _ls_dirs(self, rel: str) -> list[str]:
        self.listings += 1
        return self.storage.ls_dirs(rel)

    def _ls_files(self, rel: str) -> list[FileInfo]:
        self.listings += 1
        return self.storage.ls_files(rel)

    def for_tick(
        self, now: datetime, *, lateness_window_hours: int, overlap_hours: int, reconcile: bool = False
    ) -> Discovery:
        """New files since the last tick: arrival records, the lateness window, and (optionally) the sweep."""
        found = Discovery()
        arrivals, named = self._from_arrivals(now, overlap_hours)
        found.arrivals = arrivals
        window = self._lateness_window(now, lateness_window_hours)
        candidates: dict[str, FileInfo] = {f.path: f for f in named}
        for f in window:
            # A listing knows the fingerprint an arrival record lacks; keep the richer entry.
            candidates[f.path] = f
        found.sources = {"arrival_records": len(arrivals), "arrival_files": len(named), "window": len(window)}
        if reconcile:
            swept = list(self.storage.walk_files(RAW_PREFIX))
            self.listings += 1
            for f in swept:
                candidates.setdefault(f.path, f)
            found.sources["reconcile"] = len(swept)
        found.files = self.processed.unprocessed(candidates.values())
        found.listings = self.listings
        return found

    def for_hours(self, hours: list[datetime]) -> Discovery:
        """Every raw file of the given event hours (a backfill re-processes them all)."""
        found = Discovery()
        wanted = {hour_folder(h) for h in hours}
        for tenant_dir in self._ls_dirs(RAW_PREFIX):
            for agent_dir in self._ls_dirs(f"{RAW_PREFIX}/{tenant_dir}"):
                for folder in sorted(wanted):
                    found.files.extend(self._ls_files(f"{RAW_PREFIX}/{tenant_dir}/{agent_dir}/{folder}"))
        found.files.sort(key=lambda f: f.path)
        found.sources = {"hours": len(wanted), "files": len(found.files)}
        found.listings = self.listings
        return found

    def _from_arrivals(self, now: datetime, overlap_hours: int) -> tuple[list[FileInfo], list[FileInfo]]:
        cursor = read_cursor(self.storage)
        start = None if cursor is None else _hour(cursor) - timedelta(hours=overlap_hours)
        records: list[FileInfo] = []
        # One listing of the arrival days: `prune_arrivals` keeps it to the days since the cursor. Days after
        # `now` are read too (a writer whose clock is ahead).
        for dt_dir in self._ls_dirs(ARRIVALS_PREFIX):
            day = dt_dir.removeprefix("dt=")
            if start is not None and day < f"{start:%Y-%m-%d}":
                continue
            for hr_dir in self._ls_dirs(f"{ARRIVALS_PREFIX}/{dt_dir}"):
                if start is not None and f"{dt_dir}/{hr_dir}" < hour_folder(start):
                    continue
                records.extend(self._ls_files(f"{ARRIVALS_PREFIX}/{dt_dir}/{hr_dir}"))
        fresh = self.processed.unprocessed(records)
        named: list[FileInfo] = []
        for rec in fresh:
            try:
                body = self.storage.read_json(rec.path)
                for f in body["files"]:
                    parse_raw_path(f["path"])  # only raw files, never a path outside raw/v1
                    named.append(FileInfo(path=f["path"], size=int(f["size"]), fingerprint=None))
            except (ValueError, KeyError, TypeError, LakeLayoutError) as exc:
                # A broken arrival record must not stop the tick; the sweep still finds its files.
                log.warning("unreadable arrival record %s: %s", rec.path, exc)
        return fresh, named

    def _lateness_window(self, now: datetime, hours: int) -> list[FileInfo]:
        if hours <= 0:
            return []
        newest = _hour(now)
        folders = [hour_folder(newest - timedelta(hours=h)) for h in range(hours + 1)]
        files: list[FileInfo] = []
        for agent_rel in self._window_agents():
            # The window's hour folders by name (a missing one lists as empty): listing the agent's day
            # folders would grow with its history.
            for folder in folders:
                files.extend(self._ls_files(f"{agent_rel}/{folder}"))
        return files

    def _window_agents(self) -> list[str]:
        """The agent folders the lateness window lists: the active ones, or all before anything is known."""
        active = self.active.read() if self.active is not None else None
        if active is not None:
            return [f"{RAW_PREFIX}/{agent}" for agent in sorted(active)]
        return [
            f"{RAW_PREFIX}/{tenant_dir}/{agent_dir}"
            for tenant_dir in self._ls_dirs(RAW_PREFIX)
            for agent_dir in self._ls_dirs(f"{RAW_PREFIX}/{tenant_dir}")
        ]
