"""Silver's dead letters as an asset with a check: the traces set aside because their rows failed a test."""
# No `from __future__ import annotations`: Dagster reads config and resource types at runtime.

from collections import Counter
from collections.abc import Iterator
from typing import Any

import dagster as dg

from clawtrace_pipelines.assets.step_order import AFTER_READ_PATH
from clawtrace_pipelines.core.tables import PG_TRACES, SILVER_DEAD_LETTERS
from clawtrace_pipelines.lib.silver_dead_letters import dead_letters
from clawtrace_pipelines.resources import LakehouseResource

_SHOWN = 20


@dg.asset(
    name=SILVER_DEAD_LETTERS.name,
    group_name="silver",
    deps=[dg.AssetKey(PG_TRACES.name)],
    kinds={"python", "deltalake", "iceberg"},
    pool="lakehouse",
    op_tags=AFTER_READ_PATH,
    check_specs=[
        dg.AssetCheckSpec(
            "no_dead_letters",
            asset=SILVER_DEAD_LETTERS.name,
            description="No trace is held back: every queued trace passed the blocking data tests. A dead "
            "letter names its failing dbt node and reason; fix the data or the model, then `clawtrace silver "
            "retry`.",
        )
    ],
    description="One row per (tenant_id, trace_id) whose recomputation failed a blocking data test or a model, "
    "written by the silver step; the trace keeps its earlier silver rows and every other trace publishes.",
)
def silver_dead_letters(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> Iterator[Any]:
    held = dead_letters(lakehouse.settings())
    rows = held.to_pylist()
    by_node = Counter(r["node"].split(".")[2] if r["node"].count(".") >= 2 else r["node"] for r in rows)
    tenants = len({r["tenant_id"] for r in rows})
    examples = [
        {"tenant_id": r["tenant_id"], "trace_id": r["trace_id"], "reason": r["reason"]}
        for r in sorted(rows, key=lambda r: r["failed_at"], reverse=True)[:_SHOWN]
    ]
    context.log.info(f"{len(rows)} dead-lettered traces of {tenants} tenants")
    yield dg.MaterializeResult(
        metadata={"dead_letters": len(rows), "tenants": tenants, "by_node": dg.MetadataValue.json(dict(by_node))}
    )
    yield dg.AssetCheckResult(
        check_name="no_dead_letters",
        passed=not rows,
        # A warning: the other traces published; a red check here must not block the graph update.
        severity=dg.AssetCheckSeverity.WARN,
        description=f"{len(rows)} traces of {tenants} tenants are dead-lettered",
        metadata={"dead_letters": len(rows), "examples": dg.MetadataValue.json(examples)},
    )
