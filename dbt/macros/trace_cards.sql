{#-
  Two argument strings are "similar" when their normalized Levenshtein similarity is at least 80%:
  1 - levenshtein(a, b) / max(len(a), len(b)) >= 0.8, i.e. 5 * distance <= the longer length. DuckDB's
  levenshtein counts bytes, so lengths are bytes too (strlen). Equal strings skip the distance, and a length
  gap that alone exceeds the budget skips it as well: the distance is at least the gap. CASE evaluates its
  branches lazily, so the quadratic distance runs only on pairs that could pass.
-#}
{% macro args_similar(a, b) -%}
    case
        when {{ a }} = {{ b }} then true
        when 5 * abs(strlen({{ a }}) - strlen({{ b }})) > greatest(strlen({{ a }}), strlen({{ b }})) then false
        else 5 * levenshtein({{ a }}, {{ b }}) <= greatest(strlen({{ a }}), strlen({{ b }}))
    end
{%- endmacro %}

{#-
  A JSON object as canonical text: top-level keys sorted, no whitespace (nested values keep their key order,
  minified). Any other JSON value is its minified text; NULL stays NULL. Keys reach their value by JSON pointer
  ('~' and '/' escaped), so no key can break the path.
-#}
{% macro canonical_json(value) -%}
    case
        when json_type({{ value }}) = 'OBJECT' then
            '{' || array_to_string(
                list_transform(
                    list_sort(json_keys({{ value }})),
                    lambda k: to_json(k)::varchar || ':'
                    || json_extract({{ value }}, '/' || replace(replace(k, '~', '~0'), '/', '~1'))::varchar
                ),
                ','
            ) || '}'
        else json({{ value }})::varchar
    end
{%- endmacro %}

{#- A USD amount for a card: a double with 6 significant digits (the exact decimal stays in cost_usd). -#}
{% macro usd_for_card(value) -%}
    case
        when {{ value }} > 0
            then round(cast({{ value }} as double), 5 - cast(floor(log10(cast({{ value }} as double))) as integer))
        else 0.0
    end
{%- endmacro %}
