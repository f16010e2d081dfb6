-- One TraceCard per recomputed trace, key (tenant_id, trace_id): the paper's compact verdict on a run - what
-- cost the money, what was wasted, what failed and was repaired. Totals are pg_traces' (so a card agrees with
-- the trace list); the nested parts are JSON text, capped so a typical card stays under 2 kB of YAML.
-- Recomputed with the trace's other silver rows: a card depends on its own trace only.
with recursive

traces as (
    select * from {{ ref('pg_traces') }}
),

spans as (
    select
        tenant_id, trace_id, span_id, parent_span_id, span_start_ts_ms, actor_type, actor_label, model, has_error,
        error_message, input_tokens, cache_read_tokens, cache_write_tokens, output_tokens, total_tokens, cost_usd,
        cost_known, output_payload
    from {{ ref('pg_spans') }}
),

tool_calls as (
    select * from {{ ref('int_tool_calls') }}
),

models as (
    select tenant_id, trace_id, to_json(list(distinct model order by model))::varchar as models
    from spans
    where actor_type = 'llm_call' and model is not null
    group by tenant_id, trace_id
),

-- Shares are floored to basis points, so the listed shares never sum above 1.
ranked_steps as (
    select
        s.*,
        floor(cast(s.cost_usd as double) * 10000 / cast(t.cost_usd as double)) / 10000 as share,
        row_number() over (partition by s.tenant_id, s.trace_id order by s.cost_usd desc, s.span_id) as rank
    from spans as s
    inner join traces as t on t.tenant_id = s.tenant_id and t.trace_id = s.trace_id
    where s.cost_known and s.cost_usd > 0
),

top_cost_steps as (
    select
        tenant_id,
        trace_id,
        to_json(list({
            'span_id': span_id, 'kind': actor_type, 'label': actor_label, 'cost_usd': {{ usd_for_card('cost_usd') }},
            'share': share, 'tokens': total_tokens
        } order by rank))::varchar as top_cost_steps
    from ranked_steps
    where rank <= {{ var('trace_card_top_k') }}
    group by tenant_id, trace_id
),

-- A cluster's first call was needed; the others are the waste (their attributed LLM cost).
clusters as (
    select
        tenant_id,
        trace_id,
        tool,
        cluster_no,
        count(*) as calls,
        cast(coalesce(sum(attributed_cost_usd) filter (where call_no <> cluster_no), 0) as double) as wasted_cost_usd,
        arg_min(args, call_no) as args_sample
    from tool_calls
    group by tenant_id, trace_id, tool, cluster_no
    having count(*) >= 2
),

ranked_clusters as (
    select
        *,
        row_number() over (
            partition by tenant_id, trace_id order by wasted_cost_usd desc, calls desc, tool, cluster_no
        ) as rank
    from clusters
),

redundant as (
    select
        tenant_id,
        trace_id,
        count(*) as redundant_clusters,
        sum(calls - 1) as redundant_calls,
        to_json(list({
            'tool': tool, 'calls': calls, 'wasted_cost_usd': {{ usd_for_card('wasted_cost_usd') }},
            'args_sample': left(args_sample, {{ var('trace_card_sample_chars') }})
        } order by rank) filter (where rank <= {{ var('trace_card_max_listed') }}))::varchar as redundant_tool_calls
    from ranked_clusters
    group by tenant_id, trace_id
),

-- `error` spans only report their parent's failure; the failed call is the step.
failed as (
    select
        tenant_id,
        trace_id,
        count(*) as failed_step_count,
        to_json(list({
            'span_id': span_id, 'kind': actor_type, 'label': actor_label,
            'error': left(error_message, {{ var('trace_card_sample_chars') }})
        } order by span_start_ts_ms, span_id)[1:{{ var('trace_card_max_listed') }}])::varchar as failed_steps
    from spans
    where has_error = 1 and actor_type in ('llm_call', 'tool_call', 'subagent')
    group by tenant_id, trace_id
),

repaired as (
    select
        tenant_id,
        trace_id,
        count(*) as repaired_step_count,
        to_json(list({
            'span_id': span_id, 'tool': tool, 'repaired_by': repaired_by_span_id
        } order by span_start_ts_ms, span_id)[1:{{ var('trace_card_max_listed') }}])::varchar as repaired_steps
    from tool_calls
    where repaired_by_span_id is not null
    group by tenant_id, trace_id
),

-- Every span below each spawn span: the sub-agent's session and all it did. Depth-capped, so a parent cycle
-- in bad data cannot recurse for ever.
below_spawn as (
    select tenant_id, trace_id, span_id as spawn_span_id, span_id, 0 as depth
    from spans
    where actor_type = 'subagent'
    union all
    select s.tenant_id, s.trace_id, b.spawn_span_id, s.span_id, b.depth + 1
    from below_spawn as b
    inner join spans as s
        on s.tenant_id = b.tenant_id and s.trace_id = b.trace_id and s.parent_span_id = b.span_id
    where b.depth < 32
),

sub_agent_totals as (
    select
        b.tenant_id,
        b.trace_id,
        b.spawn_span_id,
        cast(coalesce(sum(s.cost_usd) filter (where s.cost_known), 0) as double) as cost_usd,
        coalesce(sum(s.total_tokens) filter (where s.actor_type = 'llm_call'), 0) as tokens
    from (select distinct tenant_id, trace_id, spawn_span_id, span_id from below_spawn) as b
    inner join spans as s on s.tenant_id = b.tenant_id and s.trace_id = b.trace_id and s.span_id = b.span_id
    group by b.tenant_id, b.trace_id, b.spawn_span_id
),

sub_agents as (
    select
        a.tenant_id,
        a.trace_id,
        to_json(list({
            'label': a.actor_label, 'outcome': coalesce(json_extract_string(a.output_payload, '$.outcome'), 'unknown'),
            'cost_usd': {{ usd_for_card('t.cost_usd') }}, 'tokens': t.tokens
        } order by a.span_start_ts_ms, a.span_id)[1:{{ var('trace_card_max_listed') }}])::varchar as sub_agents
    from spans as a
    inner join sub_agent_totals as t
        on t.tenant_id = a.tenant_id and t.trace_id = a.trace_id and t.spawn_span_id = a.span_id
    where a.actor_type = 'subagent'
    group by a.tenant_id, a.trace_id
),

-- The prompt an LLM call read: fresh input plus cache reads and writes. Growth is measured within one session
-- (a sub-agent starts small); first and last are the root session's calls when the trace has a root.
prompts as (
    select
        c.tenant_id,
        c.trace_id,
        c.span_id,
        c.parent_span_id,
        c.span_start_ts_ms,
        c.input_tokens + c.cache_read_tokens + c.cache_write_tokens as prompt_tokens,
        coalesce(p.actor_type = 'session' and p.parent_span_id is null, false) as in_root_session
    from spans as c
    left join spans as p on p.tenant_id = c.tenant_id and p.trace_id = c.trace_id and p.span_id = c.parent_span_id
    where c.actor_type = 'llm_call'
),

jumps as (
    select
        *,
        prompt_tokens - lag(prompt_tokens) over (
            partition by tenant_id, trace_id, parent_span_id order by span_start_ts_ms, span_id
        ) as jump,
        row_number() over (
            partition by tenant_id, trace_id order by in_root_session desc, span_start_ts_ms, span_id
        ) as first_rank,
        row_number() over (
            partition by tenant_id, trace_id order by in_root_session desc, span_start_ts_ms desc, span_id desc
        ) as last_rank
    from prompts
),

context_growth as (
    select
        tenant_id,
        trace_id,
        max(prompt_tokens) filter (where first_rank = 1) as first_llm_input_tokens,
        max(prompt_tokens) filter (where last_rank = 1) as last_llm_input_tokens,
        -- A context that only shrank (a compaction) has no growth: 0, with no span.
        coalesce(max(jump) filter (where jump > 0), 0) as max_context_jump_tokens,
        arg_max(span_id, (jump, span_id)) filter (where jump > 0) as max_context_jump_span_id
    from jumps
    group by tenant_id, trace_id
)

select
    t.tenant_id,
    t.agent_id,
    t.trace_id,
    t.trace_date,
    t.trace_start_ts_ms,
    t.duration_ms,
    t.cost_usd,
    t.unpriced_llm_calls as unpriced_calls,
    t.total_input_tokens as input_tokens,
    t.total_cache_read_tokens as cache_read_tokens,
    t.total_cache_write_tokens as cache_write_tokens,
    t.total_output_tokens as output_tokens,
    t.llm_calls,
    t.tool_calls,
    t.subagents as subagent_calls,
    coalesce(m.models, '[]') as models,
    coalesce(top.top_cost_steps, '[]') as top_cost_steps,
    coalesce(r.redundant_clusters, 0) as redundant_clusters,
    coalesce(r.redundant_calls, 0) as redundant_calls,
    coalesce(r.redundant_tool_calls, '[]') as redundant_tool_calls,
    coalesce(f.failed_step_count, 0) as failed_step_count,
    coalesce(f.failed_steps, '[]') as failed_steps,
    coalesce(rp.repaired_step_count, 0) as repaired_step_count,
    coalesce(rp.repaired_steps, '[]') as repaired_steps,
    coalesce(sa.sub_agents, '[]') as sub_agents,
    coalesce(g.first_llm_input_tokens, 0) as first_llm_input_tokens,
    coalesce(g.last_llm_input_tokens, 0) as last_llm_input_tokens,
    coalesce(g.max_context_jump_tokens, 0) as max_context_jump_tokens,
    g.max_context_jump_span_id
from traces as t
left join models as m on m.tenant_id = t.tenant_id and m.trace_id = t.trace_id
left join top_cost_steps as top on top.tenant_id = t.tenant_id and top.trace_id = t.trace_id
left join redundant as r on r.tenant_id = t.tenant_id and r.trace_id = t.trace_id
left join failed as f on f.tenant_id = t.tenant_id and f.trace_id = t.trace_id
left join repaired as rp on rp.tenant_id = t.tenant_id and rp.trace_id = t.trace_id
left join sub_agents as sa on sa.tenant_id = t.tenant_id and sa.trace_id = t.trace_id
left join context_growth as g on g.tenant_id = t.tenant_id and g.trace_id = t.trace_id
