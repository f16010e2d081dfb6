"""The guard of free-form Cypher (Tracy's `run_cypher`, the MCP tool): the interface, filled in by issue 12.

A query from a model or an outside agent is parsed with a real openCypher parser, allowed only if it reads,
confined to the caller (tenant, and an agent or a trace when asked from that page), and run with a row cap and
a timeout. Confinement to the tenant does not depend on the checks: the embedded engine opens only the
tenant's snapshot, and PuppyGraph is reached as the tenant's row-level-security user.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clawtrace_pipelines.core.graph.client import GraphClient, GraphQueryError, Row


@dataclass(frozen=True)
class Confinement:
    """Whose data a query may see: always one tenant; within it, optionally one agent or one trace."""

    tenant_id: str
    agent_id: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True)
class GuardLimits:
    max_chars: int = 20_000
    max_depth: int = 64
    max_rows: int = 500


@dataclass(frozen=True)
class GuardedResult:
    rows: list[Row]
    truncated: bool
    query: str
    params: dict[str, Any] = field(default_factory=dict)


class CypherRefusedError(GraphQueryError):
    """The guard refused the query before it ran; `reason` says why in words a model can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def run_guarded(
    client: GraphClient,
    query: str,
    confinement: Confinement,
    limits: GuardLimits | None = None,
    params: dict[str, Any] | None = None,
) -> GuardedResult:
    """Check, confine and run `query` (see the module docstring); raises CypherRefusedError or a GraphError."""
    raise NotImplementedError("issue 12: the guard is being written")
