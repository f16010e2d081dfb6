{#
  A billing run's own inputs that are not upstream assets, staged by Python into `staged.<name>`: the rates
  in force, the tenants whose balance is recomputed and the time it is valid for. (Earlier rows of the
  billing tables come through `prior_state`, the new files through the `billing` sources.)
#}
{% macro billing_input(name) -%}
    {{ adapter.quote('staged') }}.{{ adapter.quote(name) }}
{%- endmacro %}
