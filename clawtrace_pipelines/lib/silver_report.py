"""What one silver run did: counts, timings, I/O and the dbt node outcomes (the Dagster asset turns it into
materializations and check results)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class NodeOutcome:
    """One dbt node's result across the run's chunks (the worst status wins)."""

    unique_id: str
    resource_type: str
    status: str
    failures: int = 0
    message: str | None = None
    seconds: float = 0.0
    # The project folder under models/ the node (a model, or a test defined there) lives in: staging,
    # intermediate, silver, gold.
    layer: str = ""


@dataclass
class SilverReport:
    """What one silver run did; the Dagster asset turns it into materializations and check results."""

    mode: str
    traces: int = 0
    events_read: int = 0
    chunks: int = 0
    builds: int = 0
    rows_written: dict[str, int] = field(default_factory=dict)
    rows_deleted: dict[str, int] = field(default_factory=dict)
    moved_traces: int = 0
    dead_lettered: int = 0
    replayed_journals: int = 0
    queue_settled: int = 0
    queue_kept: int = 0
    queue_expired: int = 0
    stage_seconds: float = 0.0
    dbt_seconds: float = 0.0
    publish_seconds: float = 0.0
    seconds: float = 0.0
    # The builds that published (their tests describe the published rows).
    nodes: dict[str, NodeOutcome] = field(default_factory=dict)
    # The nodes that failed in builds that were refused (their traces were dead-lettered).
    failed_nodes: dict[str, NodeOutcome] = field(default_factory=dict)
    io: dict[str, int] = field(default_factory=dict)  # listings and lake reads (core/lake/io_stats.py)


_STATUS_RANK = {"success": 0, "pass": 0, "skipped": 1, "warn": 2, "fail": 3, "error": 4}


def record_nodes(result: Any, nodes: dict[str, NodeOutcome], *, only_failed: bool = False) -> None:
    for node_result in result.result or []:
        node = node_result.node
        status = str(node_result.status.value if hasattr(node_result.status, "value") else node_result.status)
        if only_failed and status not in ("fail", "error"):
            continue
        outcome = nodes.get(node.unique_id)
        failures = int(getattr(node_result, "failures", None) or 0)
        if outcome is None:
            fqn = list(getattr(node, "fqn", []) or [])
            layer = fqn[1] if len(fqn) > 2 else ""
            outcome = nodes[node.unique_id] = NodeOutcome(node.unique_id, str(node.resource_type), status, layer=layer)
        elif _STATUS_RANK.get(status, 5) > _STATUS_RANK.get(outcome.status, 5):
            outcome.status = status
        outcome.failures += failures
        outcome.seconds += float(node_result.execution_time or 0.0)
        if node_result.message and status not in ("success", "pass"):
            outcome.message = str(node_result.message)
