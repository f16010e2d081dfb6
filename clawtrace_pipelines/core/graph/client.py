"""One graph client interface for the API and Tracy: `run(query, params) -> rows`.

`CLAWTRACE_GRAPH` chooses the engine: `embedded` (LadybugDB snapshots built by the pipeline, in-process) or
`bolt://host:port` (PuppyGraph in production; Neo4j, Memgraph or FalkorDB too) through the neo4j driver.
Queries are parameterized openCypher: values travel as parameters, never inside the query text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from clawtrace_pipelines.core.errors import ClawTraceError
from clawtrace_pipelines.core.settings import Settings

DEFAULT_TIMEOUT_S = 25.0
DEFAULT_MAX_ROWS = 10_000

Row = dict[str, Any]


class GraphError(ClawTraceError):
    """A graph query failed."""


class GraphUnavailableError(GraphError):
    """The engine cannot be reached (no snapshot yet, server down): retrying later may help."""


class GraphQueryError(GraphError):
    """The engine refused the query (syntax, unknown label or property, bad parameter): do not retry."""


class GraphTimeoutError(GraphError):
    """The query ran longer than its timeout."""


class GraphResultTooLargeError(GraphError):
    """The query returned more rows than the client's limit."""


@dataclass(frozen=True)
class ClientOptions:
    timeout_s: float = DEFAULT_TIMEOUT_S
    max_rows: int = DEFAULT_MAX_ROWS


@runtime_checkable
class GraphClient(Protocol):
    """A connection to a graph engine, reused across queries and safe to share between threads."""

    def run(self, query: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Rows of `query` as dicts keyed by the RETURN aliases, values as plain Python (str, int, float,
        bool, None, date, lists and dicts of those).

        `params["tenant_id"]` is the caller's tenant. The embedded engine requires it and opens only that
        tenant's snapshot (confinement by construction); a Bolt server binds it as `$tenant_id` and confines
        only as far as the query and the server's row-level security do (see `bolt.py`).

        Raises:
            GraphQueryError, GraphTimeoutError, GraphResultTooLargeError, GraphUnavailableError.
        """
        ...

    def close(self) -> None:
        """Release connections (the client is unusable afterwards)."""
        ...


def connect(settings: Settings, options: ClientOptions | None = None) -> GraphClient:
    """The client `settings.graph` names: the embedded engine, or a Bolt server.

    Raises:
        ValueError: `settings.graph` is neither `embedded` nor a `bolt://`/`neo4j://` URI.
    """
    options = options or ClientOptions()
    target = settings.graph
    if target == "embedded":
        from clawtrace_pipelines.core.graph.embedded_client import EmbeddedClient

        return EmbeddedClient(settings, options)
    if target.startswith(("bolt://", "bolt+s://", "bolt+ssc://", "neo4j://", "neo4j+s://")):
        from clawtrace_pipelines.core.graph.bolt import BoltClient, auth_from_settings

        return BoltClient(target, options, auth=auth_from_settings(settings))
    raise ValueError(f"CLAWTRACE_GRAPH must be 'embedded' or a bolt:// URI, got {target!r}")
