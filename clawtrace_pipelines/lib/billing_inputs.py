"""What a billing run reads: new metering and grant files, and the storage each tenant holds.

Files are found like bronze finds raw files: the hour folders from the billing cursor (less an overlap) to now
for every tenant folder, or everything on the first run and on a reconciliation sweep, then whatever the
billing step's own log (`billing_files`, the processed-files log's schema; kinds `metering` and `grant`)
lacks. Re-reading a file is harmless: every record keeps its id, and the billing tables insert an id only once.

Storage is metered per complete UTC hour: the raw bytes the processed-files log holds per tenant (files bronze
processed before the hour ended), as MB-days (MB x 1/24 day, 1 MB = 1,000,000 bytes, rounded half-even to 9
decimals). Each hour's row has a deterministic id (`storage/<hour>`), so metering an hour twice charges once.
The log is read once per new hour, not per tick.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from clawtrace_pipelines.core.errors import InvalidIdError, LakeLayoutError
from clawtrace_pipelines.core.lake.storage import (
    STATE_PREFIX,
    FileInfo,
    LakeStorage,
    hour_folder,
    parse_raw_path,
    read_many,
)
from clawtrace_pipelines.core.metering import (
    CREDITS_PREFIX,
    METERING_PREFIX,
    GrantRecord,
    MeterRecord,
    MeterRecordError,
    folder_tenant,
    parse_grant,
    parse_record,
)
from clawtrace_pipelines.lib.processed_log import LogEntry, ProcessedLog, folder_date

log = logging.getLogger(__name__)

CURSOR_PATH = f"{STATE_PREFIX}/billing/cursor.json"
STORAGE_CURSOR_PATH = f"{STATE_PREFIX}/billing/storage_cursor.json"
_HOUR = timedelta(hours=1)
_MB_DAY_BYTES = Decimal(1_000_000 * 24)
_QUANTUM = Decimal(1).scaleb(-9)


@dataclass(frozen=True, slots=True)
class StorageRow:
    """Raw bytes a tenant held during one hour, in MB-days; the id is the hour's."""

    tenant_id: str
    event_id: str
    hour: datetime
    mb_days: Decimal


@dataclass
class BillingInputs:
    """New metering records, storage rows and grants, and the log entries to write once they are published."""

    records: list[MeterRecord] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # the metering file of each record
    storage: list[StorageRow] = field(default_factory=list)
    storage_through: datetime | None = None  # the storage cursor to write after publishing
    grants: list[GrantRecord] = field(default_factory=list)
    grant_sources: list[str] = field(default_factory=list)
    entries: list[LogEntry] = field(default_factory=list)
    bad_lines: int = 0
    files: int = 0


def _hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def read_cursor(storage: LakeStorage, path: str, key: str) -> datetime | None:
    if not storage.exists(path):
        return None
    return datetime.fromisoformat(storage.read_json(path)[key]).astimezone(UTC)


def candidates(storage: LakeStorage, prefix: str, since: datetime | None, now: datetime) -> list[FileInfo]:
    """Files under `prefix` in the hour folders from `since` to the hour after `now` (a writer whose clock is
    ahead), or every file when `since` is None."""
    if since is None:
        return list(storage.walk_files(prefix))
    hours = []
    at, last = _hour(since), _hour(now) + _HOUR
    while at <= last:
        hours.append(hour_folder(at))
        at += _HOUR
    return [f for tenant in storage.ls_dirs(prefix) for h in hours for f in storage.ls_files(f"{prefix}/{tenant}/{h}")]


def discover(
    overlap_hours: int, storage: LakeStorage, processed: ProcessedLog, now: datetime, *, reconcile: bool
) -> tuple[list[FileInfo], list[FileInfo]]:
    """(New metering files, new grant files) the processed-files log lacks."""
    cursor = None if reconcile else read_cursor(storage, CURSOR_PATH, "files_from")
    since = None if cursor is None else cursor - timedelta(hours=overlap_hours)
    found = []
    for prefix in (METERING_PREFIX, CREDITS_PREFIX):
        found.append(processed.unprocessed(candidates(storage, prefix, since, now)))
    return found[0], found[1]


def read_files(storage: LakeStorage, meters: list[FileInfo], grants: list[FileInfo], inputs: BillingInputs) -> None:
    """Parse the files into `inputs`; a bad line or file is logged and counted, never charged."""
    contents = read_many(storage, [f.path for f in (*meters, *grants)])
    for f in meters:
        data = contents.get(f.path)
        if not isinstance(data, bytes):
            log.warning("cannot read metering file %s", f.path)  # not logged: a later run retries it
            continue
        try:
            tenant = folder_tenant(f.path)
        except InvalidIdError as exc:
            log.warning("skipping %s: %s", f.path, exc)
            continue
        ok = bad = 0
        for line in data.splitlines():
            if not line.strip():
                continue
            try:
                inputs.records.append(parse_record(line, tenant))
                inputs.sources.append(f.path)
                ok += 1
            except MeterRecordError as exc:
                bad += 1
                log.warning("bad metering line in %s: %s", f.path, exc)
        inputs.bad_lines += bad
        inputs.entries.append(_entry(f, "metering", ok, bad))
    for f in grants:
        data = contents.get(f.path)
        if not isinstance(data, bytes):
            log.warning("cannot read grant file %s", f.path)
            continue
        try:
            inputs.grants.append(parse_grant(data, folder_tenant(f.path)))
            inputs.grant_sources.append(f.path)
            inputs.entries.append(_entry(f, "grant", 1, 0))
        except (MeterRecordError, InvalidIdError) as exc:
            log.warning("bad grant file %s: %s", f.path, exc)
            inputs.entries.append(_entry(f, "grant", 0, 1))
    inputs.files = len(inputs.entries)


def _entry(f: FileInfo, kind: str, accepted: int, rejected: int) -> LogEntry:
    return LogEntry(
        path=f.path,
        kind=kind,
        dt=folder_date(f.path),
        size=f.size,
        fingerprint=f.fingerprint,
        records_read=accepted + rejected,
        accepted=accepted,
        rejected=rejected,
    )


def meter_storage(
    max_hours: int, storage: LakeStorage, processed: ProcessedLog, now: datetime, inputs: BillingInputs
) -> None:
    """Storage rows for the complete hours since the storage cursor (on a fresh lake: the last complete hour)."""
    last = _hour(now) - _HOUR
    at = read_cursor(storage, STORAGE_CURSOR_PATH, "next_hour") or last
    hours: list[datetime] = []
    while at <= last and len(hours) < max_hours:
        hours.append(at)
        at += _HOUR
    if not hours:
        return
    inputs.storage_through = hours[-1] + _HOUR
    if not processed.table.exists():
        return
    files = processed.table.read(columns=["path", "size", "processed_at"], filters=[("kind", "=", "raw")])
    tenants = [_tenant_of(p) for p in files.column("path").to_pylist()]
    sizes = files.column("size").to_pylist()
    seen = files.column("processed_at").to_pylist()
    for hour in hours:
        end = hour + _HOUR
        held: dict[str, int] = defaultdict(int)
        for tenant, size, processed_at in zip(tenants, sizes, seen, strict=True):
            if tenant is not None and processed_at < end:
                held[tenant] += size
        for tenant, size in sorted(held.items()):
            mb_days = (Decimal(size) / _MB_DAY_BYTES).quantize(_QUANTUM, ROUND_HALF_EVEN)
            if mb_days:
                inputs.storage.append(StorageRow(tenant, f"storage/{hour:%Y-%m-%dT%H}", hour, mb_days))


def _tenant_of(path: str) -> str | None:
    try:
        return parse_raw_path(path).validate_ids()[0]
    except (LakeLayoutError, InvalidIdError):
        return None
