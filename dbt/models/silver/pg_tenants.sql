-- One row per tenant with first/last activity; combined with the prior rows like pg_agents.
with combined as (
    select tenant_id, min(event_ts_ms) as first_seen_ts_ms, max(event_ts_ms) as last_seen_ts_ms
    from {{ ref('stg_events') }}
    group by tenant_id
    union all
    select tenant_id, first_seen_ts_ms, last_seen_ts_ms
    from {{ prior_state('pg_tenants') }}
)

select
    tenant_id,
    min(first_seen_ts_ms) as first_seen_ts_ms,
    max(last_seen_ts_ms) as last_seen_ts_ms
from combined
group by tenant_id
