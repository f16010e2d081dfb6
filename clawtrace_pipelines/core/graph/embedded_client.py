"""`EmbeddedClient`: the API's `GraphClient` over the embedded graph, one tenant's snapshot per query.

`run(query, params)` opens the snapshot of `params["tenant_id"]` (required, a UUID) and nothing else, so a
query physically cannot see another tenant's data, whatever its text; a tenant with no snapshot yet has no
rows. `run_all_tenants` is the explicit operator path: the query once per tenant, rows tagged with the tenant.
"""

from __future__ import annotations

import decimal
import os
import re
import threading
import uuid
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import ladybug as lb

from clawtrace_pipelines.core.errors import InvalidIdError
from clawtrace_pipelines.core.events import check_uuid
from clawtrace_pipelines.core.graph.client import (
    ClientOptions,
    GraphQueryError,
    GraphResultTooLargeError,
    GraphTimeoutError,
    GraphUnavailableError,
    Row,
)
from clawtrace_pipelines.core.graph.embedded_store import DB_FILE, READER_BUFFER_POOL, GraphHome, graph_home
from clawtrace_pipelines.core.settings import Settings

# `$name` outside string literals and quoted identifiers: a query's parameters.
_LITERALS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`")
_PARAMETER = re.compile(r"\$([A-Za-z_]\w*)")
# Keys the engine adds to a returned node or relationship: internal ids and the label, not properties.
_ENGINE_KEYS = frozenset({"_ID", "_LABEL", "_SRC", "_DST"})
_OPEN_ATTEMPTS = 3
# Tenants whose snapshot stays open between queries: each open snapshot may hold up to READER_BUFFER_POOL of
# page cache, so an API serving many tenants keeps only the busiest open.
DEFAULT_OPEN_TENANTS = 8
# The column `run_all_tenants` adds to every row.
TENANT_COLUMN = "tenant"


class _Opened:
    """One snapshot open read-only: its database, idle connections, and how many queries use it now."""

    def __init__(self, number: int, path: Path, timeout_ms: int, cache_bytes: int = READER_BUFFER_POOL) -> None:
        self.number = number
        self.db = lb.Database(str(path), read_only=True, buffer_pool_size=cache_bytes)
        self.timeout_ms = timeout_ms
        self.idle: list[lb.Connection] = []
        self.users = 0
        self.retired = False

    def take(self) -> lb.Connection:
        if self.idle:
            return self.idle.pop()
        conn = lb.Connection(self.db)
        conn.set_query_timeout(self.timeout_ms)
        return conn

    def retire(self) -> None:
        """Close now if no query uses it, else when the last one finishes."""
        self.retired = True
        if self.users == 0:
            self.close()

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()
        self.db.close()


class EmbeddedClient:
    """A `GraphClient` over the tenants' current snapshots, read-only, shared safely between threads.

    Each query checks its tenant's CURRENT (one stat) and, after a switch, opens the new snapshot; the old one
    is closed once its running queries finish. A query runs on a connection of its own taken from a small pool
    per tenant, so threads query in parallel. At most `open_tenants` tenants stay open (least recently used
    closed first).
    """

    def __init__(
        self, settings: Settings, options: ClientOptions | None = None, open_tenants: int = DEFAULT_OPEN_TENANTS
    ) -> None:
        self.options = options or ClientOptions()
        self._home = GraphHome(graph_home(settings))
        self._open_tenants = max(1, open_tenants)
        self._cache_bytes = settings.graph_reader_cache_mb * 1024 * 1024
        self._lock = threading.Lock()
        self._opened: OrderedDict[str, tuple[_Opened, tuple[int, int, int]]] = OrderedDict()
        self._closed = False

    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Rows of `query` on the snapshot of `params["tenant_id"]`, as dicts keyed by the RETURN aliases
        (nodes and relationships as property dicts). `$tenant_id` is bound to that tenant.

        Raises:
            GraphUnavailableError: no graph built yet on this host, or the client is closed.
            GraphQueryError: `tenant_id` missing or not a UUID; the engine refused the query; a `$parameter`
                has no value.
            GraphTimeoutError: the query ran past `options.timeout_s`.
            GraphResultTooLargeError: more than `options.max_rows` rows.
        """
        values: dict[str, Any] = {
            k: list(v) if isinstance(v, tuple | set | frozenset) else v for k, v in (params or {}).items()
        }
        if "tenant_id" not in values:
            raise GraphQueryError("the embedded graph needs params['tenant_id']: each tenant is its own snapshot")
        try:
            tenant = values["tenant_id"] = check_uuid(values["tenant_id"], "tenant_id")
        except InvalidIdError as exc:
            raise GraphQueryError(str(exc)) from None
        missing = sorted(set(_PARAMETER.findall(_LITERALS.sub("''", query))) - values.keys())
        if missing:
            raise GraphQueryError(f"query parameters without a value: {', '.join(missing)}")
        acquired = self._acquire(tenant)
        if acquired is None:
            return []
        opened, conn = acquired
        try:
            return self._execute(conn, query, values)
        finally:
            self._release(opened, conn)

    def run_all_tenants(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Operator path: `query` on every tenant's snapshot in turn (`$tenant_id` bound to each), rows
        concatenated in tenant order, each led by a `tenant` column. `options.max_rows` bounds the total.

        Raises:
            GraphQueryError: `params` names `tenant_id`, or a row already has a `tenant` column; as `run`.
        """
        if params and "tenant_id" in params:
            raise GraphQueryError("run_all_tenants binds $tenant_id itself: do not pass tenant_id")
        if not self._home.tenants_dir.exists():
            raise GraphUnavailableError("no graph snapshot yet: the pipeline's graph step has not run")
        rows: list[Row] = []
        for tenant in self._home.tenant_ids():
            for row in self.run(query, {**(params or {}), "tenant_id": tenant}):
                if TENANT_COLUMN in row:
                    raise GraphQueryError(f"a column named {TENANT_COLUMN!r} clashes with the tenant column")
                if len(rows) == self.options.max_rows:
                    raise GraphResultTooLargeError(f"query returned more than {self.options.max_rows} rows")
                rows.append({TENANT_COLUMN: tenant, **row})
        return rows

    def tenants(self) -> list[str]:
        """The tenants with a snapshot, sorted."""
        return self._home.tenant_ids()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for opened, _ in self._opened.values():
                opened.retire()
            self._opened.clear()

    def _acquire(self, tenant: str) -> tuple[_Opened, lb.Connection] | None:
        with self._lock:
            if self._closed:
                raise GraphUnavailableError("the graph client is closed")
            if not self._home.tenants_dir.exists():
                raise GraphUnavailableError("no graph snapshot yet: the pipeline's graph step has not run")
            store = self._home.tenant(tenant)
            stamp = _stamp(store.pointer)
            if stamp is None:
                return None
            current = self._opened.get(tenant)
            if current is None or current[1] != stamp:
                opened = self._switch(tenant, stamp, current[0] if current else None)
                if opened is None:
                    return None
            else:
                opened = current[0]
            self._opened.move_to_end(tenant)
            while len(self._opened) > self._open_tenants:
                _, (evicted, _) = self._opened.popitem(last=False)
                evicted.retire()
            opened.users += 1
            return opened, opened.take()

    def _release(self, opened: _Opened, conn: lb.Connection) -> None:
        with self._lock:
            opened.users -= 1
            opened.idle.append(conn)
            if opened.retired and opened.users == 0:
                opened.close()

    def _switch(self, tenant: str, stamp: tuple[int, int, int], previous: _Opened | None) -> _Opened | None:
        """Open the snapshot the tenant's CURRENT names (called with the lock held). A writer may switch
        twice and delete what CURRENT named between our read and our open: read it again then."""
        store = self._home.tenant(tenant)
        for _ in range(_OPEN_ATTEMPTS):
            number = store.current_number()
            if number is None:
                return None
            if previous is not None and previous.number == number:
                self._opened[tenant] = (previous, stamp)
                return previous
            try:
                opened = _Opened(number, store.snapshots / str(number) / DB_FILE, self._timeout_ms(), self._cache_bytes)
            except RuntimeError:
                stamp = _stamp(store.pointer) or stamp
                continue
            if previous is not None:
                previous.retire()
            self._opened[tenant] = (opened, stamp)
            return opened
        raise GraphUnavailableError(f"no readable graph snapshot under {store.home}")

    def _timeout_ms(self) -> int:
        return max(1, round(self.options.timeout_s * 1000))

    def _execute(self, conn: lb.Connection, query: str, params: dict[str, Any]) -> list[Row]:
        try:
            result = conn.execute(query, params)
        except RuntimeError as exc:
            message = str(exc)
            if message.startswith("Interrupted"):
                raise GraphTimeoutError(f"query ran longer than {self.options.timeout_s}s") from exc
            if message.startswith("Buffer manager exception"):
                # The snapshot's page cache is too small for this query: a capacity limit, not a bad query
                # (the API answers 503; CLAWTRACE_GRAPH_READER_CACHE_MB raises the cache).
                raise GraphUnavailableError(f"the graph's page cache is full: {message}") from exc
            raise GraphQueryError(message) from exc
        results = result if isinstance(result, list) else [result]
        try:
            if len(results) != 1:
                raise GraphQueryError("one statement per query")
            columns = results[0].get_column_names()
            rows: list[Row] = []
            while results[0].has_next():
                if len(rows) == self.options.max_rows:
                    raise GraphResultTooLargeError(f"query returned more than {self.options.max_rows} rows")
                rows.append(dict(zip(columns, (_plain(v) for v in results[0].get_next()), strict=True)))
            return rows
        finally:
            for r in results:
                r.close()


def _stamp(pointer: Path) -> tuple[int, int, int] | None:
    try:
        st = os.stat(pointer)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_size)


def _plain(value: Any) -> Any:
    """Engine values as plain Python: integer sums come back as Decimal (INT128), nodes carry ids."""
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k not in _ENGINE_KEYS}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
