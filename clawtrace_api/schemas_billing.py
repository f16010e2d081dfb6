"""Response models of the billing routes. Credits and quantities are exact decimals, sent as JSON strings."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, Field

Granularity = Literal["hour", "day"]


class UsageBucket(BaseModel):
    """One category's usage in one hour or day."""

    start: datetime = Field(description="The bucket's start (UTC)")
    category: str
    quantity: Decimal = Field(description="Units of the category (events, bytes, reads, tokens, MB-days)")
    events: int = Field(description="Metered actions")
    credits: Decimal


class UsageTotal(BaseModel):
    category: str
    quantity: Decimal
    events: int
    credits: Decimal


class UsageReport(BaseModel):
    """The caller's metered usage in [from, to), by bucket and category, as of the last billing run."""

    tenant_id: str
    start: datetime = Field(serialization_alias="from", description="Start (UTC), down to its hour")
    end: datetime = Field(serialization_alias="to", description="End, exclusive (UTC)")
    granularity: Granularity
    buckets: list[UsageBucket]
    totals: list[UsageTotal]
    total_credits: Decimal


class CreditBalance(BaseModel):
    """The caller's credits: granted, used, lapsed (expired unused) and the balance; negative is a deficit."""

    tenant_id: str
    granted: Decimal
    used: Decimal
    lapsed: Decimal
    balance: Decimal
    in_deficit: bool = Field(description="balance < 0: with the deficit guard on, ingest and reads answer 402")
    usage_through: datetime | None = Field(description="End of the latest hour with usage counted")
    valid_at: datetime | None = Field(description="When the balance was computed (null: never, no usage or grant)")
