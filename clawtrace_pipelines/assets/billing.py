"""Billing: the metering and grant files, and the storage bronze logged, into the billing tables each tick.

Lineage in the UI: raw_metering, raw_credit_grants, processed_files (storage, from bronze's log) ->
billing_events -> billing_usage_hourly -> credit_balance <- credit_grants. The dbt models under
`dbt/models/billing/` run in their own work database (`lib/billing.py`), after bronze, in `lakehouse_tick`.
"""
# No `from __future__ import annotations`: Dagster reads config and resource types at runtime.

import json
from collections.abc import Iterator, Mapping
from typing import Any

import dagster as dg
from dagster_dbt import dbt_assets
from dagster_dbt.asset_utils import get_asset_check_key_for_test

from clawtrace_pipelines.assets.retries import TICK_RETRY, unless_terminated
from clawtrace_pipelines.assets.silver import TRANSLATOR, contracts_by_check, model_order_of
from clawtrace_pipelines.assets.step_order import AFTER_READ_PATH
from clawtrace_pipelines.lib.billing import BillingReport, run_billing
from clawtrace_pipelines.lib.dbt_runner import BILLING_SELECTION, ensure_manifest
from clawtrace_pipelines.resources import LakehouseResource

raw_metering = dg.AssetSpec(
    "raw_metering",
    group_name="raw",
    kinds={"json"},
    description="Metered actions as the API wrote them: `raw/metering/v1/tenant=/dt=/hr=/meter-<uuid>.ndjson` "
    "(write hour, UTC), one record per line with its unique id. Not materialized by Dagster.",
)

raw_credit_grants = dg.AssetSpec(
    "raw_credit_grants",
    group_name="raw",
    kinds={"json"},
    description="Credit grants as `clawtrace credits grant` wrote them: "
    "`raw/credits/v1/tenant=/dt=/hr=/grant-<uuid>.json`. Not materialized by Dagster.",
)


class BillingConfig(dg.Config):
    reconcile: bool = False
    """Read every metering and grant file the processed-files log lacks, not only recent hours' (daily)."""


def build_billing_models() -> dg.AssetsDefinition:
    """The `billing_models` multi-asset, from the dbt manifest (parsed here when missing or stale)."""
    manifest_path = ensure_manifest()
    manifest: dict[str, Any] = json.loads(manifest_path.read_text())
    order = model_order_of(manifest)

    @dbt_assets(
        manifest=manifest_path,
        name="billing_models",
        select=BILLING_SELECTION,
        dagster_dbt_translator=TRANSLATOR,
        pool="lakehouse",
        op_tags=AFTER_READ_PATH,
        retry_policy=TICK_RETRY,
    )
    def billing_models(
        context: dg.AssetExecutionContext, config: BillingConfig, lakehouse: LakehouseResource
    ) -> Iterator[Any]:
        """Add the new metered actions and grants exactly once, recompute the hours and balances they change."""
        with unless_terminated(context):
            report = run_billing(lakehouse.settings(), reconcile=config.reconcile)
        context.log.info(f"billing: {report.metadata()}")
        # Dagster wants a multi-asset's materializations in dependency order.
        for key in sorted(context.selected_asset_keys, key=lambda k: order.get(k.path[-1], len(order))):
            yield dg.MaterializeResult(asset_key=key, metadata=report.metadata())
        yield from _check_results(context, report, manifest)

    return billing_models


def _check_results(
    context: dg.AssetExecutionContext, report: BillingReport, manifest: Mapping[str, Any]
) -> Iterator[dg.AssetCheckResult]:
    # A failing billing test raises before anything is published, so the outcomes here are passes (or
    # "nothing ran" when the run had nothing to add).
    outcomes = {}
    for node in report.nodes.values():
        if node.resource_type == "test":
            key = get_asset_check_key_for_test(manifest, TRANSLATOR, node.unique_id, None)
            if key is not None:
                outcomes[key] = node
    contract_of = contracts_by_check(manifest)
    for key in context.selected_asset_check_keys:
        node, ran_in = outcomes.get(key), {}
        if node is None and key in contract_of and contract_of[key] in report.nodes:
            node, ran_in = report.nodes[contract_of[key]], {"ran_in": contract_of[key]}
        yield dg.AssetCheckResult(
            asset_key=key.asset_key,
            check_name=key.name,
            passed=node is None or node.status in ("pass", "warn"),
            metadata={"ran": node is not None, "dbt_status": node.status if node else "skipped", **ran_in},
        )
