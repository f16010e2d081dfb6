"""The embedded graph: a projection of the silver tables, updated every tick for the traces that changed."""
# No `from __future__ import annotations`: Dagster reads config and resource types at runtime.

import dagster as dg

from clawtrace_pipelines.assets.retries import TICK_RETRY, unless_terminated
from clawtrace_pipelines.assets.step_order import READ_PATH
from clawtrace_pipelines.core.tables import SILVER_TABLES
from clawtrace_pipelines.resources import LakehouseResource


@dg.asset(
    name="graph",
    group_name="graph",
    deps=[dg.AssetKey(spec.name) for spec in SILVER_TABLES if spec.name != "span_rollup"],
    kinds={"ladybug", "python"},
    pool="lakehouse",
    op_tags=READ_PATH,
    retry_policy=TICK_RETRY,
    description="Tenant -[HAS_AGENT]-> Agent -[OWNS]-> Trace -[HAS_SPAN]-> Span -[CHILD_OF]-> Span, as an embedded "
    "LadybugDB graph (one snapshot per tenant) built from the same definition as the PuppyGraph schema. Each tick "
    "rewrites only the traces silver recomputed, in a copy of each touched tenant's snapshot, then switches that "
    "tenant's readers to it atomically. With "
    "CLAWTRACE_GRAPH=bolt://... (PuppyGraph reads the lake tables directly) there is nothing to build.",
)
def graph(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    settings = lakehouse.settings()
    if settings.graph != "embedded":
        context.log.info(f"graph served by {settings.graph}: nothing to build")
        return dg.MaterializeResult(metadata={"engine": "bolt", "traces": 0})
    from clawtrace_pipelines.lib.graph_update import run_graph_update

    with unless_terminated(context):
        report = run_graph_update(settings)
    metadata = {"engine": "embedded", **report.metadata()}
    context.log.info(f"graph: {metadata}")
    return dg.MaterializeResult(metadata=metadata)
