"""`clawtrace credits grant`: add credits to a tenant's ledger.

The grant is written as a file in the raw zone (`raw/credits/v1/tenant=/dt=/hr=/grant-<id>.json`) and enters
`credit_grants` and the tenant's balance on the next tick, exactly once (keyed on its id), like any metered
action. The file is the audit record: nothing rewrites it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer

from clawtrace_pipelines.cli_accounts import DbOpt, JsonOpt, LakeOpt, TenantOpt, _accounts, _emit, _fail, _settings

credits_app = typer.Typer(no_args_is_help=True, add_completion=False, help="Credits: grant them to a tenant.")


def _amount(text: str) -> Decimal:
    from clawtrace_pipelines.core.metering import MeterRecordError, check_amount

    try:
        return check_amount(Decimal(text))
    except InvalidOperation:
        raise typer.BadParameter(f"not a number: {text!r}", param_hint="--amount") from None
    except MeterRecordError as exc:
        raise typer.BadParameter(str(exc), param_hint="--amount") from None


@credits_app.command("grant")
def grant(
    tenant: TenantOpt,
    amount: Annotated[str, typer.Option("--amount", help="Credits to grant (positive, up to 9 decimals)")],
    reason: Annotated[str, typer.Option("--reason", help="Why, kept in the ledger")],
    expires_in_days: Annotated[
        int | None, typer.Option("--expires-in-days", min=1, help="Validity (default: the rates file's, 365)")
    ] = None,
    lake: LakeOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Grant credits to a tenant of the API database; they count from the next tick on."""
    from clawtrace_pipelines.core.billing_rates import load_rates
    from clawtrace_pipelines.core.errors import InvalidIdError
    from clawtrace_pipelines.core.events import check_uuid
    from clawtrace_pipelines.core.lake.storage import LakeStorage
    from clawtrace_pipelines.core.metering import GrantRecord, grant_file_path

    credits = _amount(amount)
    reason = reason.strip()
    if not reason or len(reason) > 500:
        raise typer.BadParameter("give a reason of 1 to 500 characters", param_hint="--reason")
    try:
        tenant_id = check_uuid(tenant, "--tenant")
    except InvalidIdError as exc:
        raise _fail(exc) from None
    settings = _settings(lake, db)
    if not _accounts(lake, db).tenant_exists(tenant_id):
        raise _fail(ValueError(f"no tenant {tenant_id} in the API database"))
    days = expires_in_days or load_rates(settings.billing_rates_file).grant_expiry_days
    now = datetime.now(UTC)
    record = GrantRecord(str(uuid.uuid4()), tenant_id, credits, reason, now, now + timedelta(days=days))
    path = grant_file_path(tenant_id, now, record.grant_id)
    LakeStorage(settings).write_bytes(path, record.to_json())
    out = {
        "grant_id": record.grant_id,
        "tenant_id": tenant_id,
        "amount": str(credits),
        "reason": reason,
        "granted_at": now.isoformat(),
        "expires_at": record.expires_at.isoformat(),
        "path": path,
    }
    _emit(
        out,
        as_json,
        f"granted {credits} credits to {tenant_id} until {record.expires_at:%Y-%m-%d} "
        f"(grant {record.grant_id}); it counts from the next tick",
    )
