"""The billing run's work database: its inputs as Arrow tables, staged for dbt, and the prior rows it needs.

Prior rows are read with bounds, so a run's reads grow with what it adds, not with the history: the
`billing_events` of the (tenant, hour) pairs that receive actions (their hours are recomputed whole), and, for
the tenants whose balance changes, their grants and hourly usage.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from clawtrace_pipelines.core.billing_rates import BillingRates
from clawtrace_pipelines.core.lake import LakeTable
from clawtrace_pipelines.core.tables import (
    BILLING_EVENTS,
    BILLING_USAGE_HOURLY,
    CREDIT_GRANTS,
    CREDITS,
    QUANTITY,
    UTC_TS,
)
from clawtrace_pipelines.lib.billing_inputs import BillingInputs
from clawtrace_pipelines.lib.silver_stage import write_staged

_ACTION_SCHEMA = pa.schema(
    [
        pa.field("tenant_id", pa.string()),
        pa.field("event_id", pa.string()),
        pa.field("category", pa.string()),
        pa.field("quantity", QUANTITY),
        pa.field("ts", UTC_TS),
        pa.field("hour", UTC_TS),
        pa.field("day", pa.date32()),
        pa.field("source_path", pa.string()),
    ]
)
_GRANT_SCHEMA = CREDIT_GRANTS.schema


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def metering_table(inputs: BillingInputs) -> pa.Table:
    rows = inputs.records
    return pa.table(
        {
            "tenant_id": [r.tenant_id for r in rows],
            "event_id": [r.id for r in rows],
            "category": [r.category.value for r in rows],
            "quantity": pa.array([Decimal(r.quantity) for r in rows], QUANTITY),
            "ts": pa.array([r.ts for r in rows], UTC_TS),
            "hour": pa.array([_hour(r.ts) for r in rows], UTC_TS),
            "day": pa.array([r.ts.date() for r in rows], pa.date32()),
            "source_path": inputs.sources,
        },
        schema=_ACTION_SCHEMA,
    )


def storage_table(inputs: BillingInputs) -> pa.Table:
    rows = inputs.storage
    return pa.table(
        {
            "tenant_id": pa.array([r.tenant_id for r in rows], pa.string()),
            "event_id": pa.array([r.event_id for r in rows], pa.string()),
            "quantity": pa.array([r.mb_days for r in rows], QUANTITY),
            "ts": pa.array([r.hour for r in rows], UTC_TS),
            "hour": pa.array([r.hour for r in rows], UTC_TS),
            "day": pa.array([r.hour.date() for r in rows], pa.date32()),
        }
    )


def grants_table(inputs: BillingInputs) -> pa.Table:
    rows = inputs.grants
    return pa.table(
        {
            "tenant_id": [g.tenant_id for g in rows],
            "grant_id": [g.grant_id for g in rows],
            "amount": pa.array([g.amount for g in rows], CREDITS),
            "reason": [g.reason for g in rows],
            "granted_at": pa.array([g.granted_at for g in rows], UTC_TS),
            "expires_at": pa.array([g.expires_at for g in rows], UTC_TS),
            "source_path": inputs.grant_sources,
        },
        schema=_GRANT_SCHEMA,
    )


def touched_pairs(metering: pa.Table, storage: pa.Table) -> set[tuple[str, datetime]]:
    """The (tenant, hour) pairs the run adds actions to."""
    pairs: set[tuple[str, datetime]] = set()
    for table in (metering, storage):
        pairs.update(zip(table.column("tenant_id").to_pylist(), table.column("hour").to_pylist(), strict=True))
    return pairs


def prior_events(events: LakeTable, pairs: set[tuple[str, datetime]]) -> pa.Table:
    """The recorded actions of the given (tenant, hour) pairs (read by day and tenant, then narrowed)."""
    if not pairs or not events.exists():
        return BILLING_EVENTS.schema.empty_table()
    tenants = sorted({t for t, _ in pairs})
    hours = sorted({h for _, h in pairs})
    rows = events.read(
        filters=[
            ("day", "in", sorted({h.date() for h in hours})),
            ("tenant_id", "in", tenants),
            ("hour", "in", hours),
        ]
    )
    if rows.num_rows == 0:
        return rows
    keep = [
        (t, h) in pairs
        for t, h in zip(rows.column("tenant_id").to_pylist(), rows.column("hour").to_pylist(), strict=True)
    ]
    return rows.filter(pa.array(keep, pa.bool_()))


def balance_tenants(
    grants: LakeTable, new_tenants: Iterable[str], since: datetime | None, now: datetime
) -> tuple[list[str], pa.Table]:
    """(Tenants whose balance is recomputed, every grant of theirs).

    Those with new actions or grants, and those with a grant that expired since the last run (`since`; every
    tenant with a grant on the first run): an expiry changes a balance without any new row. The grant ledger is
    read whole; it holds a row per grant, few per tenant.
    """
    ledger = grants.read() if grants.exists() else CREDIT_GRANTS.schema.empty_table()
    tenants = set(new_tenants)
    if since is None:
        tenants.update(ledger.column("tenant_id").to_pylist())
    else:
        expired = pc.and_(
            pc.greater(ledger.column("expires_at"), pa.scalar(since, UTC_TS)),
            pc.less_equal(ledger.column("expires_at"), pa.scalar(now, UTC_TS)),
        )
        tenants.update(ledger.filter(expired).column("tenant_id").to_pylist())
    chosen = sorted(tenants)
    mine = ledger.filter(pc.is_in(ledger.column("tenant_id"), value_set=pa.array(chosen, pa.string())))
    return chosen, mine


def prior_usage(usage: LakeTable, tenants: list[str]) -> pa.Table:
    if not tenants or not usage.exists():
        return BILLING_USAGE_HOURLY.schema.empty_table()
    return usage.read(filters=[("tenant_id", "in", tenants)])


def stage(database: Path, tables: dict[str, pa.Table]) -> None:
    """Write `tables` into the `staged` schema of a new work database."""
    con = duckdb.connect(str(database))
    try:
        write_staged(con, tables)
    finally:
        con.close()


def staged_tables(
    inputs: BillingInputs,
    rates: BillingRates,
    prior: pa.Table,
    tenants: list[str],
    grants: pa.Table,
    usage: pa.Table,
    now: datetime,
) -> dict[str, pa.Table]:
    """Every input of the billing models by its staged name."""
    return {
        "metering": metering_table(inputs),
        "storage": storage_table(inputs),
        "grant_requests": grants_table(inputs),
        "billing_rates": rates.table(),
        "prior_billing_events": prior,
        "prior_credit_grants": grants,
        "prior_usage_hourly": usage,
        "balance_tenants": pa.table({"tenant_id": pa.array(tenants, pa.string())}),
        "billing_clock": pa.table({"valid_at": pa.array([now], UTC_TS)}),
    }


def empty_staged_tables(rates: BillingRates, now: datetime) -> dict[str, pa.Table]:
    """The staged inputs with no rows (the dbt project's own tests build every model on them)."""
    return staged_tables(
        BillingInputs(),
        rates,
        BILLING_EVENTS.schema.empty_table(),
        [],
        CREDIT_GRANTS.schema.empty_table(),
        BILLING_USAGE_HOURLY.schema.empty_table(),
        now,
    )
