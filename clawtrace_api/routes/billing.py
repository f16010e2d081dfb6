"""`GET /v1/billing/usage` and `GET /v1/billing/balance`: the caller's metered usage and credits.

Both answer from the billing tables as of the last billing run (every tick), and stay open to a tenant in
deficit (the guard does not apply here): it must be able to see why it is refused.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from clawtrace_api.deps import BillingPrincipal, ServicesDep
from clawtrace_api.errors import Problem
from clawtrace_api.schemas import BILLING_PROBLEMS
from clawtrace_api.schemas_billing import CreditBalance, Granularity, UsageReport
from clawtrace_api.views.billing import balance_of, usage_of

router = APIRouter(prefix="/v1/billing", tags=["billing"])

DEFAULT_WINDOW = timedelta(days=7)
MAX_WINDOW = timedelta(days=400)
_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
_LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except OverflowError:
        # An offset that moves a time past year 1 or 9999.
        raise Problem(422, "invalid-request", "from and to must lie between 2000-01-01 and 2200-01-01") from None


@router.get("/usage", response_model=UsageReport, responses=BILLING_PROBLEMS)
def get_usage(
    principal: BillingPrincipal,
    services: ServicesDep,
    start: Annotated[
        datetime | None, Query(alias="from", description="Start, ISO-8601 (UTC if no offset); default `to` - 7 days")
    ] = None,
    end: Annotated[datetime | None, Query(alias="to", description="End, exclusive, ISO-8601; default now")] = None,
    granularity: Annotated[Granularity, Query(description="Bucket size: UTC hours or UTC days")] = "day",
) -> UsageReport:
    """Quantity, metered actions and credits per bucket and category in [from, to), and their totals.

    Hours are whole UTC hours: `from` counts the hour it falls in from its start."""
    to = _utc(end) or datetime.now(UTC)
    since = _utc(start) or to - DEFAULT_WINDOW
    if not _EARLIEST <= since <= _LATEST or not _EARLIEST <= to <= _LATEST:
        raise Problem(422, "invalid-request", "from and to must lie between 2000-01-01 and 2200-01-01")
    if since > to:
        raise Problem(422, "invalid-request", "from: must not be after to")
    if to - since > MAX_WINDOW:
        raise Problem(422, "invalid-request", f"the window is longer than {MAX_WINDOW.days} days; narrow it")
    since = since.replace(minute=0, second=0, microsecond=0)
    return usage_of(services.settings, principal.tenant_id, since, to, granularity)


@router.get("/balance", response_model=CreditBalance, responses=BILLING_PROBLEMS)
def get_balance(principal: BillingPrincipal, services: ServicesDep) -> CreditBalance:
    """Credits granted, used and lapsed and the balance, as the last billing run computed them."""
    return balance_of(services.settings, principal.tenant_id)
