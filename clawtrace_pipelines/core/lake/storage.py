"""Raw storage: an fsspec filesystem for the lake URI, the raw layout, and the arrival records.

Layout (a contract, see ARCHITECTURE.md):

    raw/v1/tenant=<uuid>/agent=<uuid>/dt=YYYY-MM-DD/hr=HH/event-<eventId>.json | batch-<uuid>.ndjson
    raw/_arrivals/dt=YYYY-MM-DD/hr=HH/<uuid>.json

Paths stored in tables and logs are relative to the lake root, so a lake can move between machines.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import fsspec
import orjson

from clawtrace_pipelines.core.errors import LakeLayoutError
from clawtrace_pipelines.core.events import check_safe_id, check_uuid
from clawtrace_pipelines.core.lake import io_stats
from clawtrace_pipelines.core.settings import Settings

RAW_PREFIX = "raw/v1"
ARRIVALS_PREFIX = "raw/_arrivals"
STATE_PREFIX = "state"

_RAW_PATH = re.compile(
    r"raw/v1/tenant=(?P<tenant>[^/]*)/agent=(?P<agent>[^/]*)/dt=(?P<dt>\d{4}-\d{2}-\d{2})/hr=(?P<hr>\d{2})/"
    r"(?P<name>[^/]+)"
)
RAW_SUFFIXES = (".json", ".ndjson")


@dataclass(frozen=True)
class RawPath:
    """The parts of a raw file path. Tenant and agent are as found: `validate_ids` checks them."""

    relpath: str
    tenant: str
    agent: str
    dt: str
    hr: str
    name: str

    @property
    def is_batch(self) -> bool:
        return self.name.endswith(".ndjson")

    def validate_ids(self) -> tuple[str, str]:
        """The folder's tenant and agent as canonical UUIDs (raises InvalidIdError)."""
        return check_uuid(self.tenant, "tenant folder"), check_uuid(self.agent, "agent folder")


def parse_raw_path(relpath: str) -> RawPath:
    """Split a raw file path relative to the lake root.

    Raises:
        LakeLayoutError: the path is not `raw/v1/tenant=/agent=/dt=/hr=/<name>.json|.ndjson`.
    """
    match = _RAW_PATH.fullmatch(relpath)
    if not match or not match["name"].endswith(RAW_SUFFIXES):
        raise LakeLayoutError(f"not a raw file path: {relpath!r}")
    return RawPath(relpath=relpath, **match.groupdict())


def hour_folder(ts: datetime) -> str:
    """`dt=YYYY-MM-DD/hr=HH` of a UTC time."""
    ts = ts.astimezone(UTC)
    return f"dt={ts:%Y-%m-%d}/hr={ts:%H}"


def event_hour(ts_ms: int) -> datetime:
    """The UTC hour (truncated) an event time falls in."""
    return datetime.fromtimestamp(ts_ms // 1000, UTC).replace(minute=0, second=0, microsecond=0)


def raw_dir(tenant_id: str, agent_id: str, hour: datetime) -> str:
    """The raw folder (relative) of one agent's events of one event hour."""
    tenant, agent = check_uuid(tenant_id, "tenant_id"), check_uuid(agent_id, "agent_id")
    return f"{RAW_PREFIX}/tenant={tenant}/agent={agent}/{hour_folder(hour)}"


def event_file_name(event_id: str) -> str:
    """The per-event file name the original ingest service writes."""
    return f"event-{check_safe_id(event_id, 'eventId')}.json"


def batch_file_name(batch_id: uuid.UUID | None = None) -> str:
    return f"batch-{batch_id or uuid.uuid4()}.ndjson"


def arrival_dir(arrived: datetime) -> str:
    return f"{ARRIVALS_PREFIX}/{hour_folder(arrived)}"


class LakeStorage:
    """The lake's files through fsspec, addressed by paths relative to the lake root."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.root = settings.lake_root
        self.fs: fsspec.AbstractFileSystem = filesystem(settings)
        self._root_path: str = self.fs._strip_protocol(self.root).rstrip("/")
        self._made_dirs: set[str] = set()

    def full(self, relpath: str) -> str:
        """The filesystem path (protocol stripped) of a lake-relative path."""
        return f"{self._root_path}/{relpath}" if relpath else self._root_path

    def rel(self, full_path: str) -> str:
        """The lake-relative form of a filesystem path."""
        stripped: str = self.fs._strip_protocol(full_path)
        prefix = self._root_path + "/"
        if not stripped.startswith(prefix):
            raise LakeLayoutError(f"{full_path!r} is outside the lake {self.root!r}")
        return stripped[len(prefix) :]

    def write_bytes(self, relpath: str, data: bytes) -> None:
        """Write a whole object. Local files go through a temporary name and a rename, so a reader never
        sees half a file; an object store PUT is atomic by itself."""
        path = self.full(relpath)
        if self.settings.lake_is_remote:
            self.fs.pipe_file(path, data)
            return
        # Plain os calls: the per-event layout writes one small file per event, so each syscall counts.
        parent = path.rsplit("/", 1)[0]
        if parent not in self._made_dirs:
            os.makedirs(parent, exist_ok=True)
            self._made_dirs.add(parent)
        tmp = f"{parent}/.tmp-{uuid.uuid4().hex}"
        try:
            handle = open(tmp, "wb")  # noqa: SIM115 - closed below
        except FileNotFoundError:
            # The folder went away since it was made (old arrival days are pruned): make it again.
            os.makedirs(parent, exist_ok=True)
            handle = open(tmp, "wb")  # noqa: SIM115
        with handle:
            handle.write(data)
        os.replace(tmp, path)

    def read_bytes(self, relpath: str) -> bytes:
        return bytes(self.fs.cat_file(self.full(relpath)))

    def exists(self, relpath: str) -> bool:
        return bool(self.fs.exists(self.full(relpath)))

    def ls_dirs(self, relpath: str) -> list[str]:
        """Names of the sub-folders of a folder (empty when it does not exist)."""
        try:
            entries = self.fs.ls(self.full(relpath), detail=True, refresh=True)
        except FileNotFoundError:
            io_stats.record_listing(0)
            return []
        io_stats.record_listing(len(entries))
        return sorted(e["name"].rstrip("/").rsplit("/", 1)[-1] for e in entries if e["type"] == "directory")

    def ls_files(self, relpath: str) -> list[FileInfo]:
        """Files directly in a folder, temporary files excluded (empty when it does not exist)."""
        try:
            entries = self.fs.ls(self.full(relpath), detail=True, refresh=True)
        except FileNotFoundError:
            io_stats.record_listing(0)
            return []
        io_stats.record_listing(len(entries))
        out = []
        for e in entries:
            name = e["name"].rstrip("/").rsplit("/", 1)[-1]
            if e["type"] != "file" or name.startswith("."):
                continue
            out.append(FileInfo(path=f"{relpath}/{name}", size=int(e.get("size") or 0), fingerprint=_fingerprint(e)))
        return sorted(out, key=lambda f: f.path)

    def walk_files(self, relpath: str) -> Iterable[FileInfo]:
        """Every file under a folder, recursively (the reconciliation sweep; never on a tick's hot path)."""
        try:
            found = self.fs.find(self.full(relpath), detail=True)
        except FileNotFoundError:
            return []
        io_stats.record_listing(len(found))
        infos = []
        for full_path, e in found.items():
            name = full_path.rsplit("/", 1)[-1]
            if e.get("type", "file") != "file" or name.startswith("."):
                continue
            infos.append(FileInfo(path=self.rel(full_path), size=int(e.get("size") or 0), fingerprint=_fingerprint(e)))
        return sorted(infos, key=lambda f: f.path)

    def info(self, relpath: str) -> FileInfo:
        return _file_info(relpath, self.fs.info(self.full(relpath)))

    def read_json(self, relpath: str) -> Any:
        return orjson.loads(self.read_bytes(relpath))

    def write_json(self, relpath: str, value: Any) -> None:
        self.write_bytes(relpath, orjson.dumps(value, option=orjson.OPT_SORT_KEYS))


@dataclass(frozen=True, slots=True)
class FileInfo:
    """A file as listed: lake-relative path, size and a change fingerprint (ETag or modification time)."""

    path: str
    size: int
    fingerprint: str | None


def _file_info(relpath: str, entry: dict[str, Any]) -> FileInfo:
    return FileInfo(path=relpath, size=int(entry.get("size") or 0), fingerprint=_fingerprint(entry))


def _fingerprint(entry: dict[str, Any]) -> str | None:
    etag = entry.get("ETag") or entry.get("etag")
    if etag:
        return f"etag:{str(etag).strip(chr(34))}"
    mtime = entry.get("mtime") or entry.get("LastModified") or entry.get("created")
    if mtime is None:
        return None
    if isinstance(mtime, datetime):
        return f"mtime:{mtime.timestamp():.6f}"
    return f"mtime:{float(mtime):.6f}"


def filesystem(settings: Settings) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem of the lake: local for a folder, s3fs for s3:// (endpoint from settings)."""
    if not settings.lake_is_remote:
        return fsspec.filesystem("file")
    protocol = settings.lake.split("://", 1)[0]
    if protocol in {"s3", "s3a"}:
        return fsspec.filesystem("s3", **s3fs_options(settings))
    return fsspec.filesystem(protocol)


def s3fs_options(settings: Settings) -> dict[str, Any]:
    opts: dict[str, Any] = {"client_kwargs": {"region_name": settings.s3_region}}
    if settings.s3_endpoint_url:
        opts["endpoint_url"] = settings.s3_endpoint_url
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        opts["key"] = settings.s3_access_key_id.get_secret_value()
        opts["secret"] = settings.s3_secret_access_key.get_secret_value()
    # Listings must see files written a moment ago by another process.
    opts["use_listings_cache"] = False
    return opts


def delta_storage_options(settings: Settings) -> dict[str, str]:
    """delta-rs object-store options for the lake (empty for a local lake)."""
    if not settings.lake_is_remote:
        return {}
    opts = {"AWS_REGION": settings.s3_region}
    if settings.s3_endpoint_url:
        opts["AWS_ENDPOINT_URL"] = settings.s3_endpoint_url
        if settings.s3_endpoint_url.startswith("http://"):
            opts["AWS_ALLOW_HTTP"] = "true"
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        opts["AWS_ACCESS_KEY_ID"] = settings.s3_access_key_id.get_secret_value()
        opts["AWS_SECRET_ACCESS_KEY"] = settings.s3_secret_access_key.get_secret_value()
    return opts


def iceberg_io_properties(settings: Settings) -> dict[str, str]:
    """pyiceberg FileIO properties for the lake (empty for a local lake)."""
    if not settings.lake_is_remote:
        return {}
    props = {"s3.region": settings.s3_region}
    if settings.s3_endpoint_url:
        props["s3.endpoint"] = settings.s3_endpoint_url
    if settings.s3_access_key_id and settings.s3_secret_access_key:
        props["s3.access-key-id"] = settings.s3_access_key_id.get_secret_value()
        props["s3.secret-access-key"] = settings.s3_secret_access_key.get_secret_value()
    return props


ARRIVAL_RECORD_VERSION = 1


def write_arrival_record(
    storage: LakeStorage,
    files: Iterable[FileInfo],
    *,
    writer: str,
    arrived: datetime,
    record_id: uuid.UUID | None = None,
) -> str:
    """Drop an arrival record naming files a writer we own has just written; returns its path.

    Write it after the files themselves: a tick that sees the record must find every file it names.
    """
    # Named by arrival time first, so a listing's names sort in arrival order (the freshness sensor's cursor
    # is the last name it saw; object stores list no usable modification order).
    stamp = arrived.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    rel = f"{arrival_dir(arrived)}/{stamp}-{record_id or uuid.uuid4()}.json"
    storage.write_json(
        rel,
        {
            "version": ARRIVAL_RECORD_VERSION,
            "writer": writer,
            "arrived": arrived.astimezone(UTC).isoformat(),
            "files": [{"path": f.path, "size": f.size} for f in files],
        },
    )
    return rel


def read_many(storage: LakeStorage, relpaths: list[str]) -> dict[str, bytes | Exception]:
    """Read many whole files; a file that cannot be read maps to its exception instead of failing all.

    Object stores get one concurrent batch request (fsspec `cat`). Local files are read one after the other:
    per-event layouts mean many tiny files, and a thread pool costs more in locking than it saves.
    """
    if not relpaths:
        return {}
    if storage.settings.lake_is_remote:
        fulls = {storage.full(p): p for p in relpaths}
        got = storage.fs.cat(list(fulls), on_error="return")
        return {fulls[k]: v for k, v in got.items()}
    out: dict[str, bytes | Exception] = {}
    for rel in relpaths:
        try:
            with open(storage.full(rel), "rb") as fh:
                out[rel] = fh.read()
        except OSError as exc:
            out[rel] = exc
    return out
