"""Lake table names, merge keys, partitioning and Arrow schemas.

Each table is declared once as a `TableSpec`; both table formats create and merge from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

UTC_TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class TableSpec:
    """A lake table: its name, Arrow schema, merge keys and partition columns."""

    name: str
    schema: pa.Schema
    keys: tuple[str, ...]
    partition_by: tuple[str, ...] = ()
    description: str = ""
    # The access path inside a partition: Delta z-orders on it when compacting, Iceberg records it as the
    # table's sort order and sorts rewritten files by it.
    sort_by: tuple[str, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return list(self.schema.names)


EVENTS_ALL = TableSpec(
    name="events_all",
    schema=pa.schema(
        [
            pa.field("ingest_ts", UTC_TS, nullable=False),
            pa.field("tenant_id", pa.string(), nullable=False),
            pa.field("agent_id", pa.string(), nullable=False),
            pa.field("event_id", pa.string(), nullable=False),
            pa.field("event_type", pa.string(), nullable=False),
            pa.field("trace_id", pa.string(), nullable=False),
            pa.field("span_id", pa.string(), nullable=False),
            pa.field("parent_span_id", pa.string()),
            pa.field("event_ts_ms", pa.int64(), nullable=False),
            pa.field("event_date", pa.date32(), nullable=False),
            pa.field("span_name", pa.string()),
            pa.field("tool_name", pa.string()),
            pa.field("model_name", pa.string()),
            pa.field("payload_json", pa.large_string(), nullable=False),
            pa.field("raw_path", pa.string(), nullable=False),
            pa.field("schema_version", pa.int32(), nullable=False),
            pa.field("received_at", UTC_TS),
            # Unknown top-level fields of the envelope and the event, kept rather than dropped (EVENTS.md).
            pa.field("extra_json", pa.string()),
        ]
    ),
    # eventId is the dedup key; tenant_id is part of it so one tenant can never suppress another's events
    # by reusing their ids, and event_date lets a merge prune partitions.
    keys=("event_date", "tenant_id", "event_id"),
    partition_by=("event_date",),
    description="Bronze: one row per distinct (tenant, event_id), validated, shadow duplicates dropped.",
)

EVENTS_REJECTED = TableSpec(
    name="events_rejected",
    schema=pa.schema(
        [
            pa.field("rejected_at", UTC_TS, nullable=False),
            pa.field("raw_path", pa.string(), nullable=False),
            pa.field("line", pa.int64(), nullable=False),
            pa.field("reason_code", pa.string(), nullable=False),
            pa.field("reason", pa.string(), nullable=False),
            pa.field("tenant_id", pa.string()),
            pa.field("agent_id", pa.string()),
            pa.field("event_id", pa.string()),
            pa.field("record_bytes", pa.int64(), nullable=False),
            pa.field("excerpt", pa.string(), nullable=False),
            # The raw file's `dt=` folder ("none" for a path outside the layout): re-processing a file finds
            # its quarantine rows in one partition, so the merge never scans the table's history.
            pa.field("dt", pa.string(), nullable=False),
        ]
    ),
    keys=("dt", "raw_path", "line"),
    partition_by=("dt",),
    description="Quarantine: one row per raw record (file, line) that failed validation, with the reason.",
)

PROCESSED_FILES = TableSpec(
    name="processed_files",
    schema=pa.schema(
        [
            pa.field("path", pa.string(), nullable=False),
            pa.field("kind", pa.string(), nullable=False),
            pa.field("dt", pa.string(), nullable=False),
            pa.field("size", pa.int64(), nullable=False),
            pa.field("fingerprint", pa.string()),
            pa.field("records_read", pa.int64(), nullable=False),
            pa.field("accepted", pa.int64(), nullable=False),
            pa.field("rejected", pa.int64(), nullable=False),
            pa.field("shadow_duplicates", pa.int64(), nullable=False),
            pa.field("duplicates", pa.int64(), nullable=False),
            pa.field("processed_at", UTC_TS, nullable=False),
            pa.field("run_id", pa.string()),
        ]
    ),
    keys=("dt", "path"),
    # Partitioned by the folder date so a tick checks only the dates of the files it found.
    partition_by=("dt",),
    description="Pipeline bookkeeping: every raw file and arrival record processed, with its counts.",
)


# The same log for the billing step's files (metering and grants): apart, so bronze's reads of its log never
# grow with the API's metering files (one per tenant and flush).
BILLING_FILES = TableSpec(
    name="billing_files",
    schema=PROCESSED_FILES.schema,
    keys=PROCESSED_FILES.keys,
    partition_by=PROCESSED_FILES.partition_by,
    description="Billing bookkeeping: every metering and grant file the billing step has read, with its counts.",
)


def _cols(*fields: pa.Field) -> pa.Schema:
    return pa.schema(list(fields))


def _req(name: str, type_: pa.DataType) -> pa.Field:
    return pa.field(name, type_, nullable=False)


# Money is exact: DECIMAL(18, 10) in every table, from the cost model to the rollup.
USD = pa.decimal128(18, 10)

PG_TENANTS = TableSpec(
    name="pg_tenants",
    schema=_cols(
        _req("tenant_id", pa.string()),
        pa.field("first_seen_ts_ms", pa.int64()),
        pa.field("last_seen_ts_ms", pa.int64()),
    ),
    keys=("tenant_id",),
    description="Silver: one row per tenant, with first and last activity.",
)

PG_AGENTS = TableSpec(
    name="pg_agents",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("agent_id", pa.string()),
        pa.field("agent_name", pa.string()),
        pa.field("agent_name_seen_ts_ms", pa.int64()),
        pa.field("first_seen_ts_ms", pa.int64()),
        pa.field("last_seen_ts_ms", pa.int64()),
        pa.field("first_seen_date", pa.date32()),
        pa.field("last_seen_date", pa.date32()),
        _req("agent_key", pa.string()),
    ),
    keys=("tenant_id", "agent_id"),
    sort_by=("tenant_id", "agent_id"),
    description="Silver: one row per (tenant, agent): display name (from the session key) and first/last activity.",
)

PG_TRACES = TableSpec(
    name="pg_traces",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("agent_id", pa.string()),
        _req("trace_id", pa.string()),
        _req("trace_start_ts_ms", pa.int64()),
        _req("trace_end_ts_ms", pa.int64()),
        _req("duration_ms", pa.int64()),
        _req("event_count", pa.int64()),
        _req("trace_date", pa.date32()),
        pa.field("agent_name", pa.string()),
        pa.field("session_key", pa.string()),
        _req("total_input_tokens", pa.int64()),
        _req("total_output_tokens", pa.int64()),
        _req("total_tokens", pa.int64()),
        _req("has_error", pa.int32()),
        _req("category", pa.string()),
        _req("total_cache_read_tokens", pa.int64()),
        _req("total_cache_write_tokens", pa.int64()),
        _req("llm_calls", pa.int64()),
        _req("tool_calls", pa.int64()),
        _req("subagents", pa.int64()),
        _req("error_count", pa.int64()),
        _req("cost_usd", USD),
        _req("unpriced_llm_calls", pa.int64()),
        _req("is_orphan", pa.bool_()),
        _req("agent_key", pa.string()),
        _req("trace_key", pa.string()),
    ),
    # (tenant_id, trace_id) is the identity; trace_date is in the key so merges prune to the day's partition.
    keys=("trace_date", "tenant_id", "trace_id"),
    partition_by=("trace_date",),
    sort_by=("tenant_id", "agent_id", "trace_start_ts_ms"),
    description="Silver: one row per trace (agent loop) with time, tokens, errors, category and USD cost.",
)

PG_SPANS = TableSpec(
    name="pg_spans",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("agent_id", pa.string()),
        _req("trace_id", pa.string()),
        _req("span_id", pa.string()),
        pa.field("parent_span_id", pa.string()),
        _req("span_start_ts_ms", pa.int64()),
        _req("span_end_ts_ms", pa.int64()),
        _req("duration_ms", pa.int64()),
        _req("actor_label", pa.string()),
        _req("actor_type", pa.string()),
        _req("input_tokens", pa.int64()),
        _req("output_tokens", pa.int64()),
        _req("total_tokens", pa.int64()),
        _req("has_error", pa.int32()),
        pa.field("input_payload", pa.large_string()),
        pa.field("output_payload", pa.large_string()),
        pa.field("provider", pa.string()),
        pa.field("model", pa.string()),
        pa.field("tool_name", pa.string()),
        _req("cache_read_tokens", pa.int64()),
        _req("cache_write_tokens", pa.int64()),
        pa.field("cost_usd", USD),
        _req("cost_known", pa.bool_()),
        pa.field("error_message", pa.string()),
        _req("trace_date", pa.date32()),
        _req("event_count", pa.int64()),
        _req("trace_key", pa.string()),
        _req("span_key", pa.string()),
    ),
    keys=("trace_date", "tenant_id", "trace_id", "span_id"),
    partition_by=("trace_date",),
    sort_by=("tenant_id", "trace_id", "span_id"),
    description="Silver: one row per span (LLM call, tool call, sub-agent, session) with tokens, errors and cost.",
)

PG_CHILD_OF_EDGES = TableSpec(
    name="pg_child_of_edges",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("agent_id", pa.string()),
        _req("trace_id", pa.string()),
        _req("span_id", pa.string()),
        _req("parent_span_id", pa.string()),
        _req("trace_date", pa.date32()),
        _req("span_key", pa.string()),
        _req("parent_span_key", pa.string()),
    ),
    keys=("trace_date", "tenant_id", "trace_id", "span_id"),
    partition_by=("trace_date",),
    sort_by=("tenant_id", "trace_id", "parent_span_id"),
    description="Silver: Span -[CHILD_OF]-> parent span, one row per span with a parent.",
)

SPAN_ROLLUP = TableSpec(
    name="span_rollup",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("agent_id", pa.string()),
        _req("day", pa.date32()),
        _req("actor_type", pa.string()),
        _req("actor_label", pa.string()),
        _req("calls", pa.int64()),
        _req("errors", pa.int64()),
        _req("input_tokens", pa.int64()),
        _req("output_tokens", pa.int64()),
        _req("total_tokens", pa.int64()),
        _req("cache_read_tokens", pa.int64()),
        _req("cache_write_tokens", pa.int64()),
        _req("cost_usd", USD),
        _req("unpriced_calls", pa.int64()),
        _req("p50_duration_ms", pa.float64()),
        _req("p95_duration_ms", pa.float64()),
    ),
    keys=("day", "tenant_id", "agent_id", "actor_type", "actor_label"),
    partition_by=("day",),
    sort_by=("tenant_id", "agent_id"),
    description="Silver: calls, errors, tokens, cost and p50/p95 duration per (tenant, agent, day, actor).",
)

LLM_SPEND_DAILY = TableSpec(
    name="llm_spend_daily",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("agent_id", pa.string()),
        _req("day", pa.date32()),
        # "" when a call named none: a key column cannot be null, and "" sorts and groups like any value.
        _req("provider", pa.string()),
        _req("model", pa.string()),
        _req("llm_calls", pa.int64()),
        _req("input_tokens", pa.int64()),
        _req("cache_read_tokens", pa.int64()),
        _req("cache_write_tokens", pa.int64()),
        _req("output_tokens", pa.int64()),
        _req("total_tokens", pa.int64()),
        _req("cost_usd", USD),
        _req("unpriced_calls", pa.int64()),
    ),
    keys=("day", "tenant_id", "agent_id", "provider", "model"),
    partition_by=("day",),
    sort_by=("tenant_id", "agent_id"),
    description="Gold: LLM calls, tokens by kind, USD cost and unpriced calls per (tenant, agent, provider, model, "
    "day).",
)

# The nested parts of a card are JSON text: one representation that Delta, Iceberg, DuckDB and every reader
# handle alike, and a card is read whole (by trace), never queried inside.
TRACE_CARDS = TableSpec(
    name="trace_cards",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("agent_id", pa.string()),
        _req("trace_id", pa.string()),
        _req("trace_date", pa.date32()),
        _req("trace_start_ts_ms", pa.int64()),
        _req("duration_ms", pa.int64()),
        _req("cost_usd", USD),
        _req("unpriced_calls", pa.int64()),
        _req("input_tokens", pa.int64()),
        _req("cache_read_tokens", pa.int64()),
        _req("cache_write_tokens", pa.int64()),
        _req("output_tokens", pa.int64()),
        _req("llm_calls", pa.int64()),
        _req("tool_calls", pa.int64()),
        _req("subagent_calls", pa.int64()),
        _req("models", pa.string()),
        _req("top_cost_steps", pa.string()),
        _req("redundant_clusters", pa.int64()),
        _req("redundant_calls", pa.int64()),
        _req("redundant_tool_calls", pa.string()),
        _req("failed_step_count", pa.int64()),
        _req("failed_steps", pa.string()),
        _req("repaired_step_count", pa.int64()),
        _req("repaired_steps", pa.string()),
        _req("sub_agents", pa.string()),
        _req("first_llm_input_tokens", pa.int64()),
        _req("last_llm_input_tokens", pa.int64()),
        _req("max_context_jump_tokens", pa.int64()),
        pa.field("max_context_jump_span_id", pa.string()),
    ),
    # Like pg_traces: one row per trace, in its trace's day partition (a moved trace's old row is deleted).
    keys=("trace_date", "tenant_id", "trace_id"),
    partition_by=("trace_date",),
    sort_by=("tenant_id", "trace_id"),
    description="Gold: one TraceCard per trace - totals, the costliest steps, redundant tool calls, failed and "
    "repaired steps, sub-agents and context growth.",
)

# Credits are exact: quantities and rates at 9 decimals, so their product is exact at 18 (core/billing_rates.py).
QUANTITY = pa.decimal128(38, 9)
RATE = pa.decimal128(38, 9)
CREDITS = pa.decimal128(38, 18)

BILLING_EVENTS = TableSpec(
    name="billing_events",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("event_id", pa.string()),
        _req("category", pa.string()),
        _req("quantity", QUANTITY),
        _req("ts", UTC_TS),
        _req("hour", UTC_TS),
        _req("day", pa.date32()),
        # The metering file it came from; null for what the pipeline meters itself (storage).
        pa.field("source_path", pa.string()),
    ),
    # The metered action's own id is the dedup key (with the tenant: ids are the API's, but a tenant's id can
    # never suppress another's); day is derived from ts, so a replayed record lands in the same partition.
    keys=("day", "tenant_id", "event_id"),
    partition_by=("day",),
    sort_by=("tenant_id", "hour"),
    description="Billing: one row per distinct metered action (tenant, event_id): category, quantity, time.",
)

BILLING_USAGE_HOURLY = TableSpec(
    name="billing_usage_hourly",
    schema=_cols(
        _req("day", pa.date32()),
        _req("hour", UTC_TS),
        _req("tenant_id", pa.string()),
        _req("category", pa.string()),
        _req("quantity", QUANTITY),
        _req("events", pa.int64()),
        _req("credits_per_unit", RATE),
        _req("credits", CREDITS),
    ),
    keys=("day", "tenant_id", "category", "hour"),
    partition_by=("day",),
    sort_by=("tenant_id", "hour"),
    description="Billing: quantity, metered actions and credits per (tenant, category, UTC hour).",
)

CREDIT_GRANTS = TableSpec(
    name="credit_grants",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("grant_id", pa.string()),
        _req("amount", CREDITS),
        _req("reason", pa.string()),
        _req("granted_at", UTC_TS),
        _req("expires_at", UTC_TS),
        _req("source_path", pa.string()),
    ),
    keys=("tenant_id", "grant_id"),
    description="Billing: the credit ledger, one row per grant (`clawtrace credits grant`), with its expiry.",
)

CREDIT_BALANCE = TableSpec(
    name="credit_balance",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("granted", CREDITS),
        _req("used", CREDITS),
        _req("lapsed", CREDITS),
        _req("balance", CREDITS),
        pa.field("usage_through", UTC_TS),
        _req("valid_at", UTC_TS),
    ),
    keys=("tenant_id",),
    description="Billing: per tenant, credits granted, used and lapsed, and the balance, as of valid_at.",
)

SILVER_DEAD_LETTERS = TableSpec(
    name="silver_dead_letters",
    schema=_cols(
        _req("tenant_id", pa.string()),
        _req("trace_id", pa.string()),
        _req("min_ts_ms", pa.int64()),
        _req("max_ts_ms", pa.int64()),
        _req("failed_at", UTC_TS),
        _req("node", pa.string()),
        _req("reason", pa.string()),
        _req("failing_rows", pa.int64()),
    ),
    keys=("tenant_id", "trace_id"),
    description="Silver: one row per trace whose recomputation failed a blocking data test (or a model), with "
    "the failing dbt node and the reason; its earlier silver rows stay, the other traces publish. "
    "`clawtrace silver retry` queues them again.",
)

# Written by silver next to pg_tenants; PuppyGraph's row-level security reads it (core/graph/puppygraph.py).
ENTITLEMENTS = TableSpec(
    name="graph_entitlements",
    schema=pa.schema(
        [
            pa.field("puppygraph_user", pa.string(), nullable=False),
            pa.field("resource_type", pa.string(), nullable=False),
            pa.field("tenant_id", pa.string(), nullable=False),
            pa.field("is_authorized", pa.bool_(), nullable=False),
        ]
    ),
    keys=("puppygraph_user", "tenant_id"),
    description="Graph: which PuppyGraph user may see which tenant (row-level security), one row per tenant.",
)

# The price book genai-prices and the override file give (core/pricing.py fills it).
MODEL_PRICES_SCHEMA = pa.schema(
    [
        pa.field("provider_id", pa.string(), nullable=False),
        pa.field("model_id", pa.string(), nullable=False),
        pa.field("model_name", pa.string()),
        pa.field("source", pa.string(), nullable=False),
        # Order of the model's conditional prices: the last active one wins, index 0 when none is active.
        pa.field("price_index", pa.int32(), nullable=False),
        pa.field("starts_on", pa.date32()),
        # UTC seconds of day; end < start crosses midnight.
        pa.field("tod_start_s", pa.int32()),
        pa.field("tod_end_s", pa.int32()),
        pa.field("component", pa.string(), nullable=False),
        # -1 for the base price; a tier applies when the call's total input tokens exceed tier_start.
        pa.field("tier_start", pa.int64(), nullable=False),
        pa.field("usd_per_unit", pa.decimal128(20, 12), nullable=False),
        pa.field("per", pa.int64(), nullable=False),
    ]
)

MODEL_PRICES = TableSpec(
    name="model_prices",
    schema=MODEL_PRICES_SCHEMA,
    keys=("provider_id", "model_id", "price_index", "component", "tier_start"),
    description="Reference: one row per (provider, model, conditional price, component, tier) of genai-prices "
    "and the overrides.",
)


SILVER_TABLES = (PG_TENANTS, PG_AGENTS, PG_TRACES, PG_SPANS, PG_CHILD_OF_EDGES, SPAN_ROLLUP)
# Aggregates for people (FinOps, owners) rather than the graph; built in the same dbt build as silver.
GOLD_TABLES = (LLM_SPEND_DAILY, TRACE_CARDS)
# What one silver run builds and publishes through one journal.
PUBLISHED_TABLES = (*SILVER_TABLES, *GOLD_TABLES)
# What the billing step builds (its own dbt selection, after bronze, in the same tick).
BILLING_TABLES = (BILLING_EVENTS, BILLING_USAGE_HOURLY, CREDIT_GRANTS, CREDIT_BALANCE)

ALL_TABLES: dict[str, TableSpec] = {
    t.name: t
    for t in (
        EVENTS_ALL,
        EVENTS_REJECTED,
        PROCESSED_FILES,
        BILLING_FILES,
        *PUBLISHED_TABLES,
        *BILLING_TABLES,
        SILVER_DEAD_LETTERS,
        ENTITLEMENTS,
        MODEL_PRICES,
    )
}


def table_spec(name: str) -> TableSpec:
    """The spec of a known table (KeyError names the known ones)."""
    try:
        return ALL_TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {sorted(ALL_TABLES)}") from None
