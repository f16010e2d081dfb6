{#- No two rows share the combination of `columns` (a composite key such as tenant_id + trace_id). -#}
{% test unique_key(model, columns) %}
select {{ columns | join(', ') }}, count(*) as copies
from {{ model }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endtest %}
