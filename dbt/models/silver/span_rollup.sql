-- Calls per (tenant, agent, day, actor_type, actor_label): the "which tool fails most / which model costs
-- most" table. A day is the trace's date, so a day's rollup agrees with that day's trace list.
-- Recomputed for whole (tenant, day) groups: the recomputed traces' spans plus every other span of the same
-- tenants and days (staged as prior_spans), since percentiles cannot be merged from partial results.
with spans as (
    select
        tenant_id, agent_id, trace_date, actor_type, actor_label, has_error, duration_ms, input_tokens,
        output_tokens, total_tokens, cache_read_tokens, cache_write_tokens, cost_usd, cost_known
    from {{ ref('pg_spans') }}
    union all
    select
        tenant_id, agent_id, trace_date, actor_type, actor_label, has_error, duration_ms, input_tokens,
        output_tokens, total_tokens, cache_read_tokens, cache_write_tokens, cost_usd, cost_known
    from {{ prior_state('spans') }}
)

select
    tenant_id,
    agent_id,
    trace_date as day,
    actor_type,
    actor_label,
    count(*) as calls,
    sum(has_error) as errors,
    sum(input_tokens) as input_tokens,
    sum(output_tokens) as output_tokens,
    sum(total_tokens) as total_tokens,
    sum(cache_read_tokens) as cache_read_tokens,
    sum(cache_write_tokens) as cache_write_tokens,
    coalesce(sum(cost_usd) filter (where cost_known), cast(0 as {{ usd_type() }})) as cost_usd,
    count(*) filter (where not cost_known) as unpriced_calls,
    quantile_cont(duration_ms, 0.5) as p50_duration_ms,
    quantile_cont(duration_ms, 0.95) as p95_duration_ms
from spans
group by tenant_id, agent_id, trace_date, actor_type, actor_label
