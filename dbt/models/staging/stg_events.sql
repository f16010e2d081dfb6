-- One row per bronze event with its payload parsed once (json_transform reads the text a single time;
-- every json_extract call would parse it again).
with parsed as (
    select
        e.*,
        json_transform(
            e.payload_json,
            '{
                "sessionKey": "VARCHAR",
                "agentName": "VARCHAR",
                "isSubAgent": "BOOLEAN",
                "provider": "VARCHAR",
                "model": "VARCHAR",
                "toolName": "VARCHAR",
                "toolCallId": "VARCHAR",
                "label": "VARCHAR",
                "outcome": "VARCHAR",
                "error": "VARCHAR",
                "message": "VARCHAR",
                "usage": {
                    "input": "BIGINT",
                    "output": "BIGINT",
                    "cacheRead": "BIGINT",
                    "cacheWrite": "BIGINT",
                    "total": "BIGINT"
                },
                "lastAssistant": {"stopReason": "VARCHAR", "errorMessage": "VARCHAR"}
            }'
        ) as p
    from {{ source('staged', 'events') }} as e
),

fields as (
    select
        tenant_id,
        agent_id,
        trace_id,
        span_id,
        parent_span_id,
        event_id,
        event_type,
        event_ts_ms,
        payload_json,
        nullif(trim(span_name), '') as span_name,
        nullif(trim(tool_name), '') as tool_name,
        nullif(trim(coalesce(model_name, p.model)), '') as model,
        nullif(trim(p.provider), '') as provider,
        case when p.sessionKey is not null and p.sessionKey <> 'unknown' then p.sessionKey end as session_key,
        coalesce(p.isSubAgent, false) as is_subagent,
        p.label as subagent_label,
        p.outcome as outcome,
        p.usage.input as usage_input,
        p.usage.output as usage_output,
        p.usage.cacheRead as usage_cache_read,
        p.usage.cacheWrite as usage_cache_write,
        p.usage.total as usage_total,
        p.error as payload_error,
        p.message as payload_message,
        p.lastAssistant.stopReason as stop_reason,
        p.lastAssistant.errorMessage as llm_error_message,
        p.agentName as payload_agent_name
    from parsed
)

select
    tenant_id,
    agent_id,
    trace_id,
    span_id,
    parent_span_id,
    event_id,
    event_type,
    event_ts_ms,
    span_name,
    tool_name,
    model,
    provider,
    session_key,
    -- The display name is the second segment of `agent:<name>:<target>`; session_start may also name it.
    coalesce(
        nullif(trim(payload_agent_name), ''),
        case when session_key like 'agent:%' then nullif(split_part(session_key, ':', 2), '') end
    ) as agent_name,
    is_subagent,
    subagent_label,
    outcome,
    -- Token counts only mean something on the LLM result; 0 elsewhere so sums never turn NULL.
    coalesce(usage_input, 0) as fresh_input_tokens,
    coalesce(usage_cache_read, 0) as cache_read_tokens,
    coalesce(usage_cache_write, 0) as cache_write_tokens,
    coalesce(usage_output, 0) as output_tokens,
    coalesce(
        usage_total,
        coalesce(usage_input, 0) + coalesce(usage_output, 0) + coalesce(usage_cache_read, 0)
        + coalesce(usage_cache_write, 0)
    ) as total_tokens,
    -- A failure, in the words of whatever reported it. The original never marked failed LLM calls.
    case
        when event_type = 'error' then coalesce(nullif(payload_message, ''), nullif(payload_error, ''), 'error')
        when event_type = 'tool_after_call' then nullif(payload_error, '')
        when event_type = 'subagent_join'
            then coalesce(
                nullif(payload_error, ''),
                case when outcome in ('error', 'timeout', 'killed') then 'sub-agent ' || outcome end
            )
        when event_type = 'llm_after_call'
            then coalesce(
                nullif(payload_error, ''),
                nullif(llm_error_message, ''),
                case when stop_reason = 'error' then 'LLM call failed' end
            )
    end as error_message,
    -- Category evidence, read from the first 2,000 characters of the payloads that carry the task:
    -- 2 = heartbeat, 1 = memory compaction, 0 = work (the trace takes the strongest signal).
    case
        when event_type not in ('session_start', 'llm_before_call') then 0
        when lower(left(payload_json, 2000)) like '%heartbeat%' then 2
        when lower(left(payload_json, 2000)) like '%pre-compaction%'
            or lower(left(payload_json, 2000)) like '%memory flush%' then 1
        else 0
    end as category_signal,
    payload_json
from fields
