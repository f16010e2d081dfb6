"""Silver: the dbt models as Dagster assets, run in-process on the traces each tick touched.

Lineage in the UI: raw_events -> events_all -> stg_events -> int_* -> pg_* / span_rollup / llm_spend_daily /
trace_cards. The published models are the lake tables (group `silver`, and `gold` for those under
`dbt/models/gold/`); the staging and intermediate models (group `silver_work`) live only in the tick's work
database. dbt's data tests are asset checks; unit tests run in the test suite.
"""
# No `from __future__ import annotations`: Dagster reads config and resource types at runtime.

import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings, dbt_assets
from dagster_dbt.asset_utils import get_asset_check_key_for_test, get_node

from clawtrace_pipelines.assets.retries import TICK_RETRY, unless_terminated
from clawtrace_pipelines.assets.step_order import READ_PATH
from clawtrace_pipelines.lib import row_contracts
from clawtrace_pipelines.lib.dbt_runner import BILLING_SELECTION, ensure_manifest
from clawtrace_pipelines.lib.silver import SilverReport, run_silver
from clawtrace_pipelines.resources import LakehouseResource


def _published(props: Mapping[str, Any]) -> bool:
    return bool(
        ((props.get("config") or {}).get("meta") or props.get("meta") or {}).get("clawtrace", {}).get("publish")
    )


def _layer(props: Mapping[str, Any]) -> str:
    """A published model's group: its folder under models/ (`gold/` -> gold, `billing/` -> billing), else silver."""
    fqn = props.get("fqn") or []
    return fqn[1] if len(fqn) > 2 and fqn[1] in ("gold", "billing") else "silver"


class SilverTranslator(DagsterDbtTranslator):
    """Flat asset keys (the table names), groups by role, and lake kinds on the published tables."""

    def get_asset_spec(self, manifest: Mapping[str, Any], unique_id: str, project: Any) -> dg.AssetSpec:
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = get_node(manifest, unique_id)
        if props["resource_type"] == "source" and props["source_name"] == "prices":
            # The staged prices are a slice of the price book (the `model_prices` asset); the resolution of
            # the tick's model names is computed with it, shown as an external asset beside it.
            return spec.replace_attributes(key=dg.AssetKey(props["name"]), group_name="reference")
        if props["resource_type"] != "model":
            return spec
        if _published(props):
            return spec.replace_attributes(
                key=dg.AssetKey(props["name"]),
                group_name=_layer(props),
                kinds={"dbt", "duckdb", "deltalake", "iceberg"},
            )
        return spec.replace_attributes(key=dg.AssetKey(props["name"]), group_name="silver_work")


TRANSLATOR = SilverTranslator(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))


class SilverConfig(dg.Config):
    every_test: bool = False
    """Build every data test on its own, not each model's single-model tests in its row contract (the daily
    reconcile tick sets it; both block every publish, see lib/row_contracts.py)."""


def model_order_of(manifest: Mapping[str, Any]) -> dict[str, int]:
    """Model name -> position in a topological order of the dbt DAG."""
    models = {uid: node for uid, node in manifest["nodes"].items() if node["resource_type"] == "model"}
    order: dict[str, int] = {}

    def visit(uid: str) -> None:
        if models[uid]["name"] in order:
            return
        for parent in models[uid]["depends_on"]["nodes"]:
            if parent in models:
                visit(parent)
        order[models[uid]["name"]] = len(order)

    for uid in sorted(models):
        visit(uid)
    return order


def build_silver_models() -> dg.AssetsDefinition:
    """The `silver_models` multi-asset, from the dbt manifest (parsed here when missing or stale).

    A function, not a module-level asset: importing this module must not run `dbt parse` (seconds, and it
    writes into the target folder), only building the code location's definitions does.
    """
    manifest_path = ensure_manifest()
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    model_order = model_order_of(manifest)

    @dbt_assets(
        manifest=manifest_path,
        name="silver_models",
        dagster_dbt_translator=TRANSLATOR,
        # The billing models are their own step (assets/billing.py), on their own inputs.
        exclude=BILLING_SELECTION,
        # Not partitioned: a tick recomputes whatever traces bronze queued, whichever hours their events are
        # in. A backfill of bronze hours queues every trace of those hours, so the same run (or the next tick)
        # recomputes them.
        pool="lakehouse",
        op_tags=READ_PATH,
        retry_policy=TICK_RETRY,
    )
    def silver_models(
        context: dg.AssetExecutionContext, lakehouse: LakehouseResource, config: SilverConfig
    ) -> Iterator[Any]:
        """Recompute the traces bronze queued (new events, or every trace of backfilled hours) with dbt
        in-process; publish traces, spans, edges, agents, tenants, the rollup and the gold tables."""
        settings = lakehouse.settings()
        with unless_terminated(context):
            report = run_silver(settings, every_test=config.every_test)
        context.log.info(
            f"silver {report.mode}: {report.traces} traces ({report.dead_lettered} dead-lettered), "
            f"{report.events_read} events, {sum(report.rows_written.values())} rows written in {report.seconds:.2f}s"
        )
        yield from _materializations(context, report, model_order)
        yield from _check_results(context, report, manifest)

    return silver_models


def _materializations(
    context: dg.AssetExecutionContext, report: SilverReport, model_order: Mapping[str, int]
) -> Iterator[dg.MaterializeResult]:
    common = {
        "mode": report.mode,
        "traces_touched": report.traces,
        "events_read": report.events_read,
        "dead_lettered": report.dead_lettered,
        "dbt_builds": report.builds,
        "queue_settled": report.queue_settled,
        "queue_kept": report.queue_kept,
        "replayed_journals": report.replayed_journals,
        "seconds": round(report.seconds, 3),
        **report.io,
    }
    by_name = {n.unique_id.split(".")[-1]: n for n in report.nodes.values() if n.resource_type == "model"}
    # Dagster wants a multi-asset's materializations in dependency order.
    for key in sorted(context.selected_asset_keys, key=lambda k: model_order.get(k.path[-1], len(model_order))):
        name = key.path[-1]
        node = by_name.get(name)
        metadata: dict[str, Any] = {**common}
        if node is not None:
            metadata["dbt_seconds"] = round(node.seconds, 3)
            metadata["dbt_status"] = node.status
        if name in report.rows_written or name in report.rows_deleted:
            metadata["rows_written"] = report.rows_written.get(name, 0)
            metadata["rows_deleted"] = report.rows_deleted.get(name, 0)
        if name == "pg_traces":
            metadata["moved_traces"] = report.moved_traces
        yield dg.MaterializeResult(asset_key=key, metadata=metadata)


def contracts_by_check(manifest: Mapping[str, Any]) -> dict[dg.AssetCheckKey, str]:
    """Asset check of a test folded into a row contract -> the contract's unique_id. Such a test ran as a branch
    of its contract, so it reports the contract's outcome."""
    return {
        key: contract
        for test, contract in row_contracts.covered_by(manifest).items()
        if (key := get_asset_check_key_for_test(manifest, TRANSLATOR, test, None)) is not None
    }


def _check_results(
    context: dg.AssetExecutionContext, report: SilverReport, manifest: Mapping[str, Any]
) -> Iterator[dg.AssetCheckResult]:
    """One result per selected check: dbt's outcome on the rows published; a test that failed on traces this
    run set aside (dead letters) is a failed warning naming them, since the published rows passed it."""

    def by_check(nodes: Mapping[str, Any]) -> dict[dg.AssetCheckKey, Any]:
        keyed = {}
        for node in nodes.values():
            if node.resource_type == "test":
                key = get_asset_check_key_for_test(manifest, TRANSLATOR, node.unique_id, None)
                if key is not None:
                    keyed[key] = node
        return keyed

    outcomes, set_aside = by_check(report.nodes), by_check(report.failed_nodes)
    contract_of = contracts_by_check(manifest)
    for key in context.selected_asset_check_keys:
        node, failed = outcomes.get(key), set_aside.get(key)
        ran_in = {}
        if node is None and key in contract_of and contract_of[key] in report.nodes:
            node, ran_in = report.nodes[contract_of[key]], {"ran_in": contract_of[key]}
        if failed is not None:
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=False,
                # A warning: the traces it failed on were dead-lettered, every other trace published.
                severity=dg.AssetCheckSeverity.WARN,
                metadata={
                    "ran": True,
                    "dbt_status": failed.status,
                    "failing_rows": failed.failures,
                    "dead_lettered": report.dead_lettered,
                },
                description=f"failed on traces set aside as dead letters (silver_dead_letters): {failed.message}",
            )
        elif node is None:
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=True,
                metadata={"ran": False, "reason": "no traces to recompute"},
            )
        else:
            yield dg.AssetCheckResult(
                asset_key=key.asset_key,
                check_name=key.name,
                passed=node.status == "pass",
                severity=dg.AssetCheckSeverity.WARN if node.status == "warn" else dg.AssetCheckSeverity.ERROR,
                metadata={"ran": True, "dbt_status": node.status, "failing_rows": node.failures, **ran_in},
                description=node.message,
            )
