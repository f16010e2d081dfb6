"""Metered actions: the categories, the record the API writes, and where it lands in the raw zone.

Layout (their own prefix, beside the events' `raw/v1`):

    raw/metering/v1/tenant=<uuid>/dt=YYYY-MM-DD/hr=HH/meter-<uuid>.ndjson    one record per line
    raw/credits/v1/tenant=<uuid>/dt=YYYY-MM-DD/hr=HH/grant-<uuid>.json       one credit grant (the CLI)

Folders are by *write* hour (when the API flushed its buffer, when the grant was made), so the billing step
finds new files by listing the hour folders since its cursor, the way arrival records are found. Each
record carries its own id (a UUID, or a deterministic id for what the pipeline meters itself), and the
billing tables dedup on (tenant, id): a file read twice, or copied, never charges twice.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import orjson

from clawtrace_pipelines.core.errors import InvalidIdError
from clawtrace_pipelines.core.events import check_uuid

METERING_PREFIX = "raw/metering/v1"
CREDITS_PREFIX = "raw/credits/v1"
RECORD_VERSION = 1


class Category(StrEnum):
    """What is metered; the quantity's unit is in the comment (rates: `billing_rates.toml`)."""

    INGEST_EVENTS = "ingest_events"  # events accepted by ingest
    INGEST_BYTES = "ingest_bytes"  # bytes of the accepted events as stored
    TRACE_LIST_QUERY = "trace_list_query"  # one GET /v1/traces
    TRACE_DETAIL_QUERY = "trace_detail_query"  # one GET /v1/traces/{id}
    TRACY_QUESTION = "tracy_question"  # one question asked of Tracy
    TRACY_INPUT_TOKENS = "tracy_input_tokens"  # Tracy's own model: fresh input tokens
    TRACY_CACHE_READ_TOKENS = "tracy_cache_read_tokens"  # Tracy's own model: cache-read input tokens
    TRACY_CACHE_WRITE_TOKENS = "tracy_cache_write_tokens"  # Tracy's own model: cache-write input tokens
    TRACY_OUTPUT_TOKENS = "tracy_output_tokens"  # Tracy's own model: output tokens
    MCP_QUERY = "tracy_mcp_query"  # one tool call through the MCP server
    STORAGE_MB_DAYS = "storage_mb_days"  # raw bytes held, in MB-days (metered by the pipeline, hourly)


# What the API may write; storage is measured by the pipeline from the processed-files log.
API_CATEGORIES = frozenset(Category) - {Category.STORAGE_MB_DAYS}
_SAFE_RECORD_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,199}$")


# Bounds that keep every quantity and credit inside the tables' decimals (38 digits, 9 or 18 of them decimals):
# a record past them is refused on reading rather than failing the whole billing run.
MAX_QUANTITY = 10**18
MAX_GRANT = Decimal(10**12)
AMOUNT_DECIMALS = 9


class MeterRecordError(ValueError):
    """A metering line that is not a valid record (it is skipped and counted, never charged)."""


def check_amount(amount: Decimal) -> Decimal:
    """A grant's amount if it is positive, finite, below 10^12 credits and has at most 9 decimals.

    Raises:
        MeterRecordError: any other amount.
    """
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or not isinstance(exponent, int) or not 0 < amount < MAX_GRANT:
        raise MeterRecordError(f"a grant must be a positive number of credits below {MAX_GRANT}")
    if exponent < -AMOUNT_DECIMALS:
        raise MeterRecordError(f"a grant has at most {AMOUNT_DECIMALS} decimals")
    return amount


@dataclass(frozen=True, slots=True)
class MeterRecord:
    """One metered action of one tenant: `quantity` units of `category` at `ts`."""

    id: str
    tenant_id: str
    category: Category
    quantity: int
    ts: datetime

    def line(self) -> bytes:
        return orjson.dumps(
            {
                "v": RECORD_VERSION,
                "id": self.id,
                "tenant_id": self.tenant_id,
                "category": self.category.value,
                "quantity": self.quantity,
                "ts": self.ts.astimezone(UTC).isoformat(),
            }
        )


def new_record(tenant_id: str, category: Category, quantity: int, ts: datetime | None = None) -> MeterRecord:
    """A record with a fresh UUID (raises InvalidIdError for a tenant that is not a UUID, ValueError for a
    negative quantity)."""
    if not 0 <= quantity < MAX_QUANTITY:
        raise ValueError(f"a metered quantity must be from 0 to {MAX_QUANTITY - 1}: {quantity}")
    return MeterRecord(str(uuid.uuid4()), check_uuid(tenant_id, "tenant_id"), category, quantity, ts or _now())


def parse_record(line: bytes, folder_tenant: str) -> MeterRecord:
    """A record from one NDJSON line of a file in `folder_tenant`'s folder.

    Raises:
        MeterRecordError: not JSON, a missing or mistyped field, an unknown category, a negative quantity,
            or a tenant other than the folder's (a file cannot charge another tenant).
    """
    try:
        value: Any = orjson.loads(line)
        record_id, tenant, category = value["id"], value["tenant_id"], Category(value["category"])
        quantity, ts = value["quantity"], datetime.fromisoformat(value["ts"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise MeterRecordError(f"not a metering record: {exc}") from None
    if not isinstance(record_id, str) or not _SAFE_RECORD_ID.match(record_id):
        raise MeterRecordError("id must be 1-200 characters of letters, digits and ._:/-")
    if tenant != folder_tenant:
        raise MeterRecordError("tenant_id is not the tenant of the file's folder")
    if isinstance(quantity, bool) or not isinstance(quantity, int) or not 0 <= quantity < MAX_QUANTITY:
        raise MeterRecordError(f"quantity must be an integer from 0 to {MAX_QUANTITY - 1}")
    if ts.tzinfo is None:
        raise MeterRecordError("ts must carry a UTC offset")
    return MeterRecord(record_id, tenant, category, quantity, ts.astimezone(UTC))


def meter_file_path(tenant_id: str, written: datetime, file_id: uuid.UUID | None = None) -> str:
    """The lake-relative path of a metering file of `tenant_id` written at `written`."""
    tenant = check_uuid(tenant_id, "tenant_id")
    return f"{METERING_PREFIX}/tenant={tenant}/{_hour(written)}/meter-{file_id or uuid.uuid4()}.ndjson"


def grant_file_path(tenant_id: str, granted: datetime, grant_id: str) -> str:
    """The lake-relative path of a credit grant file."""
    check_uuid(grant_id, "grant_id")
    return f"{CREDITS_PREFIX}/tenant={check_uuid(tenant_id, 'tenant_id')}/{_hour(granted)}/grant-{grant_id}.json"


_BILLING_PATH = re.compile(
    r"raw/(?:metering|credits)/v1/tenant=(?P<tenant>[^/]+)/dt=\d{4}-\d{2}-\d{2}/hr=\d{2}/[^/]+\.(?:ndjson|json)"
)


def folder_tenant(relpath: str) -> str:
    """The tenant of a metering or grant file's folder.

    Raises:
        InvalidIdError: the path is not in the layout, or its tenant is not a UUID.
    """
    match = _BILLING_PATH.fullmatch(relpath)
    if match is None:
        raise InvalidIdError(f"not a metering or grant file path: {relpath!r}")
    return check_uuid(match["tenant"], "tenant folder")


@dataclass(frozen=True, slots=True)
class GrantRecord:
    """Credits given to a tenant (`amount` may be negative: a correction), valid until `expires_at`."""

    grant_id: str
    tenant_id: str
    amount: Decimal
    reason: str
    granted_at: datetime
    expires_at: datetime

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "v": RECORD_VERSION,
                "grant_id": self.grant_id,
                "tenant_id": self.tenant_id,
                "amount": str(self.amount),
                "reason": self.reason,
                "granted_at": self.granted_at.astimezone(UTC).isoformat(),
                "expires_at": self.expires_at.astimezone(UTC).isoformat(),
            }
        )


def parse_grant(data: bytes, folder: str) -> GrantRecord:
    """A grant from its file (raises MeterRecordError when it is not one, or names another tenant)."""
    try:
        value: Any = orjson.loads(data)
        grant = GrantRecord(
            grant_id=check_uuid(value["grant_id"], "grant_id"),
            tenant_id=value["tenant_id"],
            amount=Decimal(value["amount"]),
            reason=str(value["reason"]),
            granted_at=datetime.fromisoformat(value["granted_at"]).astimezone(UTC),
            expires_at=datetime.fromisoformat(value["expires_at"]).astimezone(UTC),
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, ArithmeticError) as exc:
        raise MeterRecordError(f"not a grant record: {exc}") from None
    if grant.tenant_id != folder:
        raise MeterRecordError("tenant_id is not the tenant of the file's folder")
    check_amount(grant.amount)
    return grant


def _hour(ts: datetime) -> str:
    ts = ts.astimezone(UTC)
    return f"dt={ts:%Y-%m-%d}/hr={ts:%H}"


def _now() -> datetime:
    return datetime.now(UTC)
