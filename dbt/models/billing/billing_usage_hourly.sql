-- Usage per (tenant, category, UTC hour), recomputed only for the (tenant, hour) pairs this run added
-- actions to: their new actions plus every earlier action of the same pairs (staged as prior_billing_events),
-- so an hour's totals never mix old and new sums. Credits at the rates staged for this run.
with

actions as (
    select tenant_id, category, quantity, hour, day from {{ ref('billing_events') }}
    union all
    select tenant_id, category, quantity, hour, day from {{ prior_state('billing_events') }}
),

rates as (
    select category, credits_per_unit from {{ billing_input('billing_rates') }}
),

usage as (
    select
        day,
        hour,
        tenant_id,
        category,
        sum(quantity) as quantity,
        count(*) as events
    from actions
    group by day, hour, tenant_id, category
)

select
    usage.day,
    usage.hour,
    usage.tenant_id,
    usage.category,
    cast(usage.quantity as decimal(38, 9)) as quantity,
    usage.events,
    cast(coalesce(rates.credits_per_unit, 0) as decimal(38, 9)) as credits_per_unit,
    -- 9 + 9 decimals: the product is exact at the 18 of every credits column.
    cast(usage.quantity * cast(coalesce(rates.credits_per_unit, 0) as decimal(38, 9)) as decimal(38, 18)) as credits
from usage
left join rates on usage.category = rates.category
