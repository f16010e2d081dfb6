{#- Money: DECIMAL so sums are exact; 10 decimals keep a single cached token of the cheapest model. -#}
{% macro usd_type() -%} decimal(18, 10) {%- endmacro %}

{#- "Last" by (time, value): a tie on time is broken by the value itself, so the choice never depends on row order. -#}
{% macro ordered_key(ts, value) -%} ({{ ts }}, {{ value }}) {%- endmacro %}
