-- Span -[CHILD_OF]-> parent span, one row per span that has a parent. The parent may be missing from
-- pg_spans when its events never arrived (orphans).
select
    tenant_id,
    agent_id,
    trace_id,
    span_id,
    parent_span_id,
    trace_date,
    span_key,
    {{ graph_key(['tenant_id', 'trace_id', 'parent_span_id']) }} as parent_span_key
from {{ ref('pg_spans') }}
where parent_span_id is not null
