{#-
  Every row's composite key (`columns`) is present in `to` under `to_columns` (default: the same names):
  a relationships test for keys of several columns, which dbt's built-in test cannot express.
-#}
{% test has_parent_row(model, to, columns, to_columns=none) %}
{%- set target_columns = to_columns or columns -%}
select {% for c in columns %}child.{{ c }}{{ ", " if not loop.last }}{% endfor %}
from {{ model }} as child
left join {{ to }} as parent
    on {% for c in columns %}parent.{{ target_columns[loop.index0] }} = child.{{ c }}{{ " and " if not loop.last }}{% endfor %}
where parent.{{ target_columns[0] }} is null
{% endtest %}
