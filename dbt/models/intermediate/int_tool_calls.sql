-- One row per tool call a TraceCard compares: the first `trace_card_max_calls_per_tool` calls of each tool in
-- each recomputed trace (by start time, then span id), with canonical arguments cut at `trace_card_max_arg_chars`,
-- the LLM cost attributed to the call, its redundancy cluster and the later call that repaired it.
-- Key (tenant_id, trace_id, span_id).
--
-- Clusters are greedy and deterministic: calls of one tool are taken in order; a call joins the cluster of the
-- first earlier representative whose arguments are similar (args_similar: >= 80% normalized Levenshtein),
-- else it starts a cluster and represents it. Later calls are compared with representatives only.
with recursive

spans as (
    select
        tenant_id, trace_id, span_id, parent_span_id, span_start_ts_ms, actor_type, actor_label, has_error,
        cost_usd, cost_known, input_payload, output_payload
    from {{ ref('pg_spans') }}
),

tool_calls as (
    select
        tenant_id,
        trace_id,
        span_id,
        parent_span_id,
        span_start_ts_ms,
        actor_label as tool,
        has_error,
        -- tool_before_call carries the params; an orphan call has only its after event, which repeats them.
        coalesce(
            json_extract(input_payload, '$.params'), json_extract(output_payload, '$.params')
        ) as params,
        row_number() over (
            partition by tenant_id, trace_id, actor_label order by span_start_ts_ms, span_id
        ) as call_no
    from spans
    where actor_type = 'tool_call'
),

-- Tool calls cost no tokens themselves; the LLM call that asked for them did. Its cost is split evenly among
-- the calls it asked for (unpriced LLM calls attribute nothing).
asked as (
    select
        c.tenant_id,
        c.trace_id,
        c.span_id,
        case
            when p.actor_type = 'llm_call' and p.cost_known
                then p.cost_usd / count(*) over (partition by c.tenant_id, c.trace_id, c.parent_span_id)
        end as attributed_cost_usd
    from tool_calls as c
    left join spans as p
        on p.tenant_id = c.tenant_id and p.trace_id = c.trace_id and p.span_id = c.parent_span_id
),

compared as (
    select
        c.tenant_id,
        c.trace_id,
        c.span_id,
        c.span_start_ts_ms,
        c.tool,
        c.call_no,
        c.has_error,
        coalesce(left({{ canonical_json('c.params') }}, {{ var('trace_card_max_arg_chars') }}), '') as args,
        cast(coalesce(a.attributed_cost_usd, 0) as {{ usd_type() }}) as attributed_cost_usd
    from tool_calls as c
    inner join asked as a on a.tenant_id = c.tenant_id and a.trace_id = c.trace_id and a.span_id = c.span_id
    where c.call_no <= {{ var('trace_card_max_calls_per_tool') }}
),

tools as (
    select tenant_id, trace_id, tool, count(*) as calls, list(args order by call_no) as args
    from compared
    group by tenant_id, trace_id, tool
),

-- One step per call: `reps` holds the representatives so far (call numbers), `cluster_of[n]` call n's cluster.
clustering as (
    select tenant_id, trace_id, tool, 1 as call_no, [1] as reps, [1] as cluster_of
    from tools
    union all
    select
        tenant_id,
        trace_id,
        tool,
        call_no,
        if(rep is null, list_append(reps, call_no), reps) as reps,
        list_append(cluster_of, coalesce(rep, call_no)) as cluster_of
    from (
        select
            s.tenant_id,
            s.trace_id,
            s.tool,
            s.call_no + 1 as call_no,
            s.reps,
            s.cluster_of,
            list_filter(s.reps, lambda r: {{ args_similar('t.args[r]', 't.args[s.call_no + 1]') }})[1] as rep
        from clustering as s
        inner join tools as t on t.tenant_id = s.tenant_id and t.trace_id = s.trace_id and t.tool = s.tool
        where s.call_no < t.calls
    )
),

clusters as (
    select s.tenant_id, s.trace_id, s.tool, s.cluster_of
    from clustering as s
    inner join tools as t
        on t.tenant_id = s.tenant_id and t.trace_id = s.trace_id and t.tool = s.tool and s.call_no = t.calls
),

-- A failed call is repaired by the first later successful call of the same tool with similar arguments.
repairs as (
    select
        f.tenant_id,
        f.trace_id,
        f.span_id,
        arg_min(s.span_id, s.call_no) as repaired_by_span_id
    from compared as f
    inner join compared as s
        on s.tenant_id = f.tenant_id and s.trace_id = f.trace_id and s.tool = f.tool and s.call_no > f.call_no
    where f.has_error = 1 and s.has_error = 0 and {{ args_similar('f.args', 's.args') }}
    group by f.tenant_id, f.trace_id, f.span_id
)

select
    c.tenant_id,
    c.trace_id,
    c.span_id,
    c.span_start_ts_ms,
    c.tool,
    c.call_no,
    c.has_error,
    c.args,
    c.attributed_cost_usd,
    k.cluster_of[c.call_no] as cluster_no,
    r.repaired_by_span_id
from compared as c
inner join clusters as k on k.tenant_id = c.tenant_id and k.trace_id = c.trace_id and k.tool = c.tool
left join repairs as r on r.tenant_id = c.tenant_id and r.trace_id = c.trace_id and r.span_id = c.span_id
