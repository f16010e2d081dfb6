"""Per tenant whose usage, grants or grant expiries changed: credits granted, used and lapsed, and the balance.

A Python model: the balance is a fold over time (usage charged to grants by expiry, a deficit paid first by
the next grant, what is left of a grant lapsing at its expiry; core/billing_ledger.py), which SQL sums cannot
express. Its inputs: every hourly usage row of the tenants (staged prior rows, with the hours this run
recomputed taken from billing_usage_hourly), every grant of theirs, and the time the balance is valid for.
"""

from datetime import timedelta
from decimal import Decimal

import pyarrow as pa


def _arrow(relation):
    table = relation.arrow()
    return table.read_all() if hasattr(table, "read_all") else table


def model(dbt, session):
    from clawtrace_pipelines.core.billing_ledger import Grant, fold_balance

    dbt.config(materialized="table")
    recomputed = _arrow(dbt.ref("billing_usage_hourly").select("tenant_id, category, hour, credits"))
    new_grants = _arrow(dbt.ref("credit_grants").select("tenant_id, grant_id, amount, granted_at, expires_at"))
    prior_usage = _arrow(session.sql('select tenant_id, category, hour, credits from "staged"."prior_usage_hourly"'))
    prior_grants = _arrow(
        session.sql('select tenant_id, grant_id, amount, granted_at, expires_at from "staged"."prior_credit_grants"')
    )
    tenants = [r[0] for r in session.sql('select tenant_id from "staged"."balance_tenants"').fetchall()]
    valid_at = _arrow(session.sql('select valid_at from "staged"."billing_clock"')).column(0)[0].as_py()

    usage = {}
    for table in (prior_usage, recomputed):  # the recomputed hours replace their prior rows
        for row in table.to_pylist():
            usage[(row["tenant_id"], row["category"], row["hour"])] = row["credits"]
    grants = {}
    for table in (prior_grants, new_grants):
        for row in table.to_pylist():
            grants[(row["tenant_id"], row["grant_id"])] = row

    hourly = {t: {} for t in tenants}
    for (tenant, _category, hour), credits in usage.items():
        if tenant in hourly:
            hourly[tenant][hour] = hourly[tenant].get(hour, Decimal(0)) + credits
    ledgers = {t: [] for t in tenants}
    for (tenant, grant_id), row in grants.items():
        if tenant in ledgers:
            ledgers[tenant].append(Grant(grant_id, row["amount"], row["granted_at"], row["expires_at"]))

    columns = {n: [] for n in ("tenant_id", "granted", "used", "lapsed", "balance", "usage_through", "valid_at")}
    for tenant in sorted(tenants):
        hours = hourly[tenant]
        # An hour's usage is charged at its end.
        folded = fold_balance(
            ledgers[tenant], [(h + timedelta(hours=1), c) for h, c in sorted(hours.items())], valid_at
        )
        columns["tenant_id"].append(tenant)
        columns["granted"].append(folded.granted)
        columns["used"].append(folded.used)
        columns["lapsed"].append(folded.lapsed)
        columns["balance"].append(folded.balance)
        columns["usage_through"].append(max(hours) + timedelta(hours=1) if hours else None)
        columns["valid_at"].append(valid_at)
    credits = pa.decimal128(38, 18)
    ts = pa.timestamp("us", tz="UTC")
    return pa.table(
        {
            "tenant_id": pa.array(columns["tenant_id"], pa.string()),
            "granted": pa.array(columns["granted"], credits),
            "used": pa.array(columns["used"], credits),
            "lapsed": pa.array(columns["lapsed"], credits),
            "balance": pa.array(columns["balance"], credits),
            "usage_through": pa.array(columns["usage_through"], ts),
            "valid_at": pa.array(columns["valid_at"], ts),
        }
    )
