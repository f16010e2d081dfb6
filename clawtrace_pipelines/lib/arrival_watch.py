"""New arrival records since a cursor: what the freshness sensor asks every few seconds.

Two listings at most (this arrival hour and the one before, for records written across the hour's end), so
watching costs the same on a lake of any size and nothing when no writer is active. Record names start with
their arrival time (`write_arrival_record`), so the cursor is simply the last name seen.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clawtrace_pipelines.core.lake.storage import LakeStorage, arrival_dir


def new_arrivals(storage: LakeStorage, last: str | None, now: datetime | None = None) -> tuple[int, str | None]:
    """(How many arrival records sort after `last`, the newest record's path: the next cursor).

    A writer whose clock runs behind names its record earlier than records already seen; the sensor misses
    it and the scheduled tick (every 3 minutes) loads it.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    names = [
        info.path
        for hour in (now - timedelta(hours=1), now)
        for info in storage.ls_files(arrival_dir(hour))
        if info.path.endswith(".json")
    ]
    fresh = [n for n in names if last is None or _name(n) > _name(last)]
    if not fresh:
        return 0, last
    return len(fresh), max(fresh, key=_name)


def _name(path: str) -> str:
    return path.rsplit("/", 1)[-1]
