-- The metered actions this run adds: new metering records and storage rows, each (tenant, event_id) once,
-- and none already in the table. Python merges these rows insert-if-absent, so a replayed or copied metering
-- file, a re-read after a crash, or storage metered twice for an hour never charges twice.
with

metering as (
    select tenant_id, event_id, category, quantity, ts, hour, day, source_path
    from {{ source('billing', 'metering') }}
),

storage as (
    select
        tenant_id, event_id, 'storage_mb_days' as category, quantity, ts, hour, day,
        cast(null as varchar) as source_path
    from {{ source('billing', 'storage') }}
),

incoming as (
    select * from metering
    union all
    select * from storage
),

-- Within the run: the first copy by file path, so the choice never depends on row order.
distinct_actions as (
    select *
    from incoming
    qualify row_number() over (
        partition by tenant_id, event_id order by source_path nulls first, ts
    ) = 1
),

new_actions as (
    select a.*
    from distinct_actions as a
    anti join {{ prior_state('billing_events') }} as p
        on a.tenant_id = p.tenant_id and a.event_id = p.event_id
)

select
    tenant_id,
    event_id,
    category,
    cast(quantity as decimal(38, 9)) as quantity,
    ts,
    hour,
    day,
    source_path
from new_actions
