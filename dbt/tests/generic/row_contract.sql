{#-
  Every single-model data test of `model` whose kind is listed in the `row_contract_tests` var, in one query:
  one row per check that fails, with the failing check's unique_id (`failed_test`) and how many rows its own
  query returns (`failing_rows`, what dbt reports as its failures).

  Why: a tick's build ran about 110 such tests at about 20 ms of dbt's own time each, whatever the data. The
  tick builds these contracts instead (`--exclude test_name:<kind>` for the folded kinds) and, when one fails,
  runs the checks it names on their own, so dead letters keep each check's name, rows and reason. Each branch
  is the check's own macro (dbt's or this project's) on the same arguments: the same SQL, not a rewrite.

  A folded test that is not a plain blocking check (severity warn, a `where`, `limit`, failure thresholds or
  stored failures), or has a Jinja expression for an argument, would change meaning inside a contract: that is
  a compile error rather than a silent difference, and so is a contract on a relation the project lacks.
-#}
{% test row_contract(model) %}
{%- set kinds = var("row_contract_tests") -%}
{%- set checks = [] -%}
{%- if execute -%}
  {#- The tested model or source: the one relation of that schema and name. -#}
  {%- set owner = namespace(id=none) -%}
  {%- for node in graph.nodes.values() if node.resource_type == "model" and node.alias == model.identifier
      and node.schema == model.schema -%}
    {%- set owner.id = node.unique_id -%}
  {%- endfor -%}
  {%- for node in graph.sources.values() if node.identifier == model.identifier and node.schema == model.schema -%}
    {%- set owner.id = node.unique_id -%}
  {%- endfor -%}
  {%- if owner.id is none -%}
    {#- Else the contract would pass on no checks at all. -#}
    {{ exceptions.raise_compiler_error("row_contract on " ~ model ~ ": no model or source of the project has schema "
       ~ model.schema ~ " and name " ~ model.identifier) }}
  {%- endif -%}
  {%- for node in graph.nodes.values() | sort(attribute="unique_id") -%}
    {%- set meta = node.test_metadata or {} -%}
    {%- if node.resource_type == "test" and meta.name in kinds and node.depends_on.nodes == [owner.id] -%}
      {%- set cfg = node.config -%}
      {%- if cfg.severity | lower != "error" or cfg.where or cfg.limit or cfg.store_failures
          or cfg.fail_calc != "count(*)" or cfg.error_if != "!= 0" -%}
        {{ exceptions.raise_compiler_error(node.unique_id ~ " is not a plain blocking check: it cannot be part of "
           ~ "the row contract of " ~ model.identifier ~ "; take its kind out of the row_contract_tests var") }}
      {%- endif -%}
      {%- set arguments = {} -%}
      {%- for key, value in meta.kwargs.items() if key != "model" -%}
        {#- dbt renders such an argument only in the test's own node: here it would be the template's text. -#}
        {%- if value is string and ("{{" in value or "{%" in value) -%}
          {{ exceptions.raise_compiler_error(node.unique_id ~ ": its argument " ~ key ~ " is a Jinja expression, "
             ~ "which a row contract cannot render; give the value itself") }}
        {%- endif -%}
        {%- do arguments.update({key: value}) -%}
      {%- endfor -%}
      {%- set package = dbt if ("macro.dbt.test_" ~ meta.name) in node.depends_on.macros else context[project_name] -%}
      {%- do checks.append((node.unique_id, package["test_" ~ meta.name](model=model, **arguments))) -%}
    {%- endif -%}
  {%- endfor -%}
{%- endif -%}
{%- if checks %}
select failed_test, count(*) as failing_rows
from (
{%- for unique_id, sql in checks %}
    select '{{ unique_id }}' as failed_test from ({{ sql }}) as check_{{ loop.index }}
    {{- "\n    union all" if not loop.last }}
{%- endfor %}
) as failing
group by failed_test
{%- else %}
select cast(null as varchar) as failed_test, 0 as failing_rows where false
{%- endif %}
{% endtest %}
