-- One row per (tenant, agent): display name and first/last activity. Incremental by construction: the
-- recomputed traces' events are combined with the table's prior rows for the same agents, and min/max
-- (with the name taken at its latest sighting) give what a full rebuild would.
with seen_now as (
    select
        tenant_id,
        agent_id,
        min(event_ts_ms) as first_seen_ts_ms,
        max(event_ts_ms) as last_seen_ts_ms,
        arg_max(agent_name, {{ ordered_key('event_ts_ms', 'agent_name') }}) filter (where agent_name is not null)
            as agent_name,
        max(event_ts_ms) filter (where agent_name is not null) as agent_name_seen_ts_ms
    from {{ ref('stg_events') }}
    group by tenant_id, agent_id
),

prior as (
    select tenant_id, agent_id, first_seen_ts_ms, last_seen_ts_ms, agent_name, agent_name_seen_ts_ms
    from {{ prior_state('pg_agents') }}
),

combined as (
    select * from seen_now
    union all
    select * from prior
)

select
    tenant_id,
    agent_id,
    -- An agent can be renamed: the name most recently seen wins.
    arg_max(agent_name, {{ ordered_key('agent_name_seen_ts_ms', 'agent_name') }}) filter (where agent_name is not null)
        as agent_name,
    max(agent_name_seen_ts_ms) as agent_name_seen_ts_ms,
    min(first_seen_ts_ms) as first_seen_ts_ms,
    max(last_seen_ts_ms) as last_seen_ts_ms,
    cast(epoch_ms(min(first_seen_ts_ms)) as date) as first_seen_date,
    cast(epoch_ms(max(last_seen_ts_ms)) as date) as last_seen_date,
    {{ graph_key(['tenant_id', 'agent_id']) }} as agent_key
from combined
group by tenant_id, agent_id
