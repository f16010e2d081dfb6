"""Reference data: the price book every cost in silver is computed from, published for analysts."""
# No `from __future__ import annotations`: Dagster reads config and resource types at runtime.

import dagster as dg

from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.pricing import model_prices_reference
from clawtrace_pipelines.core.tables import MODEL_PRICES
from clawtrace_pipelines.resources import LakehouseResource


@dg.asset(
    name=MODEL_PRICES.name,
    group_name="reference",
    kinds={"python", "deltalake", "iceberg"},
    pool="lakehouse",
    description="USD prices per model from the genai-prices offline snapshot plus the repo's override file "
    "(clawtrace_pipelines/core/price_overrides.json): one row per (provider, model, price period, component, "
    "tier). Silver stages the rows of the models a tick names from the same source; this table is the copy "
    "analysts query. Re-materialize after upgrading genai-prices or editing the overrides.",
)
def model_prices(context: dg.AssetExecutionContext, lakehouse: LakehouseResource) -> dg.MaterializeResult:
    table = open_table(MODEL_PRICES, lakehouse.settings())
    rows = model_prices_reference()
    # The whole book in one commit: rows of models dropped from the library disappear too.
    deleted = table.replace([], rows)
    models = rows.select(["provider_id", "model_id"]).group_by(["provider_id", "model_id"]).aggregate([]).num_rows
    context.log.info(f"model_prices: {rows.num_rows} rows for {models} models")
    return dg.MaterializeResult(metadata={"rows": rows.num_rows, "models": models, "rows_replaced": deleted})


model_resolution = dg.AssetSpec(
    "model_resolution",
    group_name="reference",
    deps=[MODEL_PRICES.name],
    kinds={"python"},
    description="Which price-book model each (provider, model) name of a tick's events resolves to (genai-prices' "
    "own matching, overrides first). Computed and staged by every silver run; not stored in the lake.",
)
