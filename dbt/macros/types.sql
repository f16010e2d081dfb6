{#- Money: DECIMAL so sums are exact; 10 decimals keep a single cached token of the cheapest model. -#}
{% macro usd_type() -%} decimal(18, 10) {%- endmacro %}

{#- "Last" by (time, value): a tie on time is broken by the value itself, so the choice never depends on row order. -#}
{% macro ordered_key(ts, value) -%} ({{ ts }}, {{ value }}) {%- endmacro %}

{#-
  A graph vertex key: ids joined with '/', tenant first. Trace and span ids are unique only within a tenant,
  so the graph (PuppyGraph over these tables, the embedded engine) keys every vertex on one column holding
  the tenant too. Ids cannot contain '/' (the event contract refuses it), so the key is unambiguous.
-#}
{% macro graph_key(columns) -%}
    ({% for c in columns %}{{ c }}{{ " || '/' || " if not loop.last }}{% endfor %})
{%- endmacro %}
