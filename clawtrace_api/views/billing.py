"""The caller's usage and balance, read from the billing lake tables (exact decimals, summed in Python)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from clawtrace_api.schemas_billing import CreditBalance, Granularity, UsageBucket, UsageReport, UsageTotal
from clawtrace_pipelines.core.lake import open_table
from clawtrace_pipelines.core.settings import Settings
from clawtrace_pipelines.core.tables import BILLING_USAGE_HOURLY, CREDIT_BALANCE

_ZERO = Decimal(0)


def read_balance(settings: Settings, tenant_id: str) -> dict[str, Any] | None:
    """The tenant's `credit_balance` row, or None when it has none (no usage, no grant yet)."""
    table = open_table(CREDIT_BALANCE, settings)
    if not table.exists():
        return None
    rows = table.read(filters=[("tenant_id", "=", tenant_id)]).to_pylist()
    return rows[0] if rows else None


def balance_of(settings: Settings, tenant_id: str) -> CreditBalance:
    row = read_balance(settings, tenant_id)
    if row is None:
        return CreditBalance(
            tenant_id=tenant_id,
            granted=_ZERO,
            used=_ZERO,
            lapsed=_ZERO,
            balance=_ZERO,
            in_deficit=False,
            usage_through=None,
            valid_at=None,
        )
    return CreditBalance(in_deficit=row["balance"] < 0, **{k: row[k] for k in CreditBalance.model_fields if k in row})


def usage_of(
    settings: Settings, tenant_id: str, start: datetime, end: datetime, granularity: Granularity
) -> UsageReport:
    """Hourly usage rows of [start, end), summed per bucket and category."""
    table = open_table(BILLING_USAGE_HOURLY, settings)
    rows: list[dict[str, Any]] = []
    if table.exists():
        rows = table.read(
            columns=["hour", "category", "quantity", "events", "credits"],
            filters=[
                ("day", ">=", start.date()),
                ("day", "<=", end.date()),
                ("tenant_id", "=", tenant_id),
                ("hour", ">=", start),
                ("hour", "<", end),
            ],
        ).to_pylist()
    buckets: dict[tuple[datetime, str], list[Any]] = defaultdict(lambda: [_ZERO, 0, _ZERO])
    totals: dict[str, list[Any]] = defaultdict(lambda: [_ZERO, 0, _ZERO])
    for row in rows:
        hour = row["hour"].astimezone(UTC)
        bucket = hour if granularity == "hour" else hour.replace(hour=0)
        for acc in (buckets[(bucket, row["category"])], totals[row["category"]]):
            acc[0] += row["quantity"]
            acc[1] += row["events"]
            acc[2] += row["credits"]
    return UsageReport(
        tenant_id=tenant_id,
        start=start,
        end=end,
        granularity=granularity,
        buckets=[
            UsageBucket(start=b, category=c, quantity=q, events=n, credits=cr)
            for (b, c), (q, n, cr) in sorted(buckets.items())
        ],
        totals=[UsageTotal(category=c, quantity=q, events=n, credits=cr) for c, (q, n, cr) in sorted(totals.items())],
        total_credits=sum((t[2] for t in totals.values()), _ZERO),
    )
