"""`BoltClient`: the graph client for Bolt servers (PuppyGraph in production; Neo4j, Memgraph, FalkorDB) over
the official neo4j driver.

One async driver (one connection pool) runs on a private event-loop thread and serves every caller; `run` is
a blocking call that any thread may make. The async driver is used for one reason: cancelling a query in it
kills that query's connection, which gives a real client-side timeout (the sync driver offers none), so a
server that ignores Bolt's transaction timeout (FalkorDB does) still cannot hold a caller past `timeout_s`.

Tenant confinement over Bolt: the client binds `$tenant_id` like any parameter and sends the text as written;
it cannot make an arbitrary query tenant-safe. What confines a query is either the query (every catalog query
of `queries.py` matches `$tenant_id` on each vertex it starts from, tested against two tenants with the same
ids) or the server: PuppyGraph's row-level security filters every hop by the *graph user's* entitlements
(`graph_entitlements`, user `ct_<tenant>`), so a connection as that user (or impersonating it) is confined
whatever the text. FalkorDB, Neo4j Community and Memgraph have no such filter. `clawtrace cypher --tenant`
applies exactly these rules (see `cli_cypher.py`). Credentials come from `Settings` as a `SecretStr`, revealed
only when the driver is built.

Known FalkorDB quirks (4.16, experimental Bolt support) are listed in `tests/graph_server.py`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from collections.abc import Coroutine, Mapping
from datetime import date, datetime, time
from typing import Any, TypeVar

from neo4j import AsyncDriver, AsyncGraphDatabase, Query
from neo4j import exceptions as neo
from neo4j.graph import Node, Path, Relationship
from neo4j.spatial import Point
from neo4j.time import Date, DateTime, Duration, Time
from pydantic import SecretStr

from clawtrace_pipelines.core.graph.client import (
    ClientOptions,
    GraphError,
    GraphQueryError,
    GraphResultTooLargeError,
    GraphTimeoutError,
    GraphUnavailableError,
    Row,
)
from clawtrace_pipelines.core.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

# A pooled connection the server closed (restart, idle timeout) is noticed by the event loop and replaced on
# reuse. One dropped silently (a firewall or load balancer forgetting it) is caught by this check instead:
# connections idle longer than this cost one RESET round trip before reuse; busy ones pay nothing.
LIVENESS_CHECK_S = 1.0
CONNECT_TIMEOUT_S = 5.0
# The loop thread answers within the query timeout; this margin only guards against a wedged loop.
_WAKE_MARGIN_S = 5.0


def auth_from_settings(settings: Settings) -> tuple[str, SecretStr] | None:
    """Basic auth from `Settings.graph_user` / `graph_password` (`CLAWTRACE_GRAPH_USER` / `_PASSWORD`), or None
    when no user is set. The password stays a `SecretStr` until the driver is built."""
    if not settings.graph_user:
        return None
    return settings.graph_user, settings.graph_password or SecretStr("")


class BoltClient:
    """A `GraphClient` over Bolt: one connection pool, reused across queries and shared by threads.

    Args:
        uri: `bolt://host:port` (or `neo4j://`, `bolt+s://` ...).
        options: per-query timeout and row limit.
        auth: (user, password), e.g. `auth_from_settings(settings)`; None means no authentication.
        database: the database (graph) to query; None is the server's default.

    Raises:
        ValueError: the URI is not one the driver accepts, or `options` has a timeout <= 0 or max_rows < 0.
    """

    def __init__(
        self,
        uri: str,
        options: ClientOptions | None = None,
        auth: tuple[str, SecretStr] | None = None,
        database: str | None = None,
    ) -> None:
        self._options = options or ClientOptions()
        if self._options.timeout_s <= 0 or self._options.max_rows < 0:
            raise ValueError("ClientOptions needs timeout_s > 0 and max_rows >= 0")
        self._uri = uri
        self._database = database
        self._lock = threading.Lock()
        self._closed = False
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="bolt-client", daemon=True)
        self._thread.start()
        try:
            self._driver = self._call(self._open(uri, auth), None)
        except BaseException:
            self._stop_loop()
            raise

    async def _open(self, uri: str, auth: tuple[str, SecretStr] | None) -> AsyncDriver:
        # Created on the loop thread: the pool's locks and sockets belong to this loop.
        # The one place the password is revealed: handed to the driver, never stored or logged here.
        basic = None if auth is None else (auth[0], auth[1].get_secret_value())
        try:
            return AsyncGraphDatabase.driver(
                uri,
                auth=basic,
                connection_timeout=min(CONNECT_TIMEOUT_S, self._options.timeout_s),
                connection_acquisition_timeout=self._options.timeout_s,
                liveness_check_timeout=LIVENESS_CHECK_S,
                user_agent="clawtrace",
            )
        except neo.ConfigurationError as exc:
            raise ValueError(f"cannot use graph URI {uri!r}: {exc}") from None

    @property
    def uri(self) -> str:
        return self._uri

    @property
    def driver(self) -> AsyncDriver:
        """The one driver (and connection pool) every query of this client goes through."""
        return self._driver

    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Rows of `query` as dicts keyed by the RETURN aliases, values as plain Python.

        Nothing is retried: a query fails or returns once. (Pooled connections that went stale while idle
        are replaced by the driver's liveness check before the query is sent.)

        Raises:
            GraphQueryError: the server refused the query or a parameter cannot be sent.
            GraphTimeoutError: no complete answer within `options.timeout_s`.
            GraphResultTooLargeError: more than `options.max_rows` rows.
            GraphUnavailableError: the server cannot be reached or the client is closed.
        """
        if self._closed:
            raise GraphUnavailableError("the graph client is closed")
        return self._call(self._run(query, dict(params or {})), self._options.timeout_s + _WAKE_MARGIN_S)

    def close(self) -> None:
        """Close every pooled connection and stop the loop thread; later `run` calls raise."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        try:
            self._call(self._driver.close(), _WAKE_MARGIN_S)
        except (GraphError, neo.DriverError, neo.Neo4jError, OSError) as exc:
            log.debug("closing the Bolt driver failed: %s", type(exc).__name__)
        finally:
            self._stop_loop()

    def __enter__(self) -> BoltClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"BoltClient({self._uri!r}, database={self._database!r})"

    def _call(self, coro: Coroutine[Any, Any, T], wait_s: float | None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self._loop)
        try:
            return future.result(wait_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise GraphTimeoutError(f"no answer from the graph client within {wait_s:.1f}s") from None

    def _stop_loop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(_WAKE_MARGIN_S)
        if not self._thread.is_alive():
            self._loop.close()

    async def _run(self, query: str, params: dict[str, Any]) -> list[Row]:
        timeout_s = self._options.timeout_s
        try:
            # Cancelling on timeout makes the driver kill the connection: the caller is released even when
            # the server ignores the transaction timeout sent with the query.
            return await asyncio.wait_for(self._fetch(query, params), timeout_s)
        except TimeoutError:
            raise GraphTimeoutError(f"graph query exceeded its timeout of {timeout_s:g}s") from None
        except (neo.Neo4jError, neo.DriverError) as exc:
            raise _graph_error(exc) from exc

    async def _fetch(self, query: str, params: dict[str, Any]) -> list[Row]:
        max_rows = self._options.max_rows
        # A batch never much larger than the limit: a server that streams stops after max_rows + 1 rows.
        fetch_size = max(1, min(max_rows + 1, 1000))
        async with self._driver.session(database=self._database, fetch_size=fetch_size) as session:
            try:
                result = await session.run(Query(query, timeout=self._options.timeout_s), params)
            except ValueError as exc:
                # Raised while packing RUN when a parameter has a type Bolt cannot carry (Decimal, set ...).
                raise GraphQueryError(f"a query parameter cannot be sent over Bolt: {exc}") from None
            rows: list[Row] = []
            async for record in result:
                if len(rows) >= max_rows:
                    raise GraphResultTooLargeError(f"the query returned more than {max_rows} rows")
                rows.append({key: plain(value) for key, value in zip(record.keys(), record.values(), strict=True)})
            return rows


def _graph_error(exc: neo.Neo4jError | neo.DriverError) -> GraphError:
    if isinstance(exc, neo.ServiceUnavailable | neo.SessionExpired):
        return GraphUnavailableError(f"graph server unavailable: {exc}")
    if isinstance(exc, neo.AuthError | neo.AuthConfigurationError):
        # The server is fine but this deployment's credentials are not: not the query's fault.
        return GraphUnavailableError(f"graph server refused the credentials ({type(exc).__name__})")
    if isinstance(exc, neo.ConnectionAcquisitionTimeoutError):
        return GraphTimeoutError(f"no free connection to the graph server: {exc}")
    if isinstance(exc, neo.Neo4jError):
        code = exc.code or ""
        if "TimedOut" in code or "Timeout" in code:
            return GraphTimeoutError(f"graph query timed out on the server ({code})")
        if isinstance(exc, neo.TransientError):
            return GraphUnavailableError(f"graph server busy ({code}): {exc.message}")
        # ClientError (syntax, types, unknown names) and DatabaseError: FalkorDB reports every failed query,
        # syntax errors included, as Neo.DatabaseError.General.UnknownError with no detail.
        return GraphQueryError(f"graph server refused the query ({code}): {exc.message}")
    return GraphError(f"graph driver error: {type(exc).__name__}: {exc}")


def plain(value: Any) -> Any:
    """A driver value as plain Python: nodes and relationships become dicts of their properties, paths
    `{"nodes": [...], "relationships": [...]}`, temporal values `datetime` types (durations ISO 8601
    strings), points lists of coordinates."""
    if value is None or isinstance(value, str | int | float | bool | bytes):
        return value
    if isinstance(value, list | tuple) and not isinstance(value, Point):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Node | Relationship):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return {"nodes": [plain(n) for n in value.nodes], "relationships": [plain(r) for r in value.relationships]}
    if isinstance(value, Date | DateTime | Time):
        native: date | datetime | time = value.to_native()
        return native
    if isinstance(value, Duration):
        return value.iso_format()
    if isinstance(value, Point):
        return list(value)
    return value
