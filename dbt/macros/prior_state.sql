{#
  A silver table's own rows from before this tick, staged by Python into `staged.prior_<name>`.
  Like `{{ this }}` in an incremental model, this is earlier state of the same table, so it is not a dbt
  source (which Dagster would draw as an upstream asset, making the table depend on itself).
  In a full rebuild the staged table is empty.
#}
{% macro prior_state(name) -%}
    {{ adapter.quote('staged') }}.{{ adapter.quote('prior_' ~ name) }}
{%- endmacro %}

{#- Deterministic "first"/"last": order by event time, then event id, so ties never depend on row order. -#}
{% macro event_order() -%}
    (event_ts_ms, event_id)
{%- endmacro %}
