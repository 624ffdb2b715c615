{# The date ages are computed at: var('reference_date') when set (tests, reruns of a past month), else today. #}
{% macro reference_date() -%}
  {%- if var('reference_date') -%} date '{{ var("reference_date") }}' {%- else -%} current_date {%- endif -%}
{%- endmacro %}

{# Five-year age band label: 00-04, 05-09, ..., 75-79, 80+. #}
{% macro age_band(age) -%}
  case
    when {{ age }} >= 80 then '80+'
    else lpad(cast(({{ age }} // 5) * 5 as varchar), 2, '0') || '-' || lpad(cast(({{ age }} // 5) * 5 + 4 as varchar), 2, '0')
  end
{%- endmacro %}

{# The one pseudonym: keyed HMAC-SHA-256 of a citizen ID (plugin UDF; key from LAKEHOUSE_PSEUDONYM_KEY).
   The same person gets the same pseudonym in every sector, so silver tables join through the population core. #}
{% macro pseudonym(citizen_id) -%}
  hmac_sha256({{ citizen_id }})
{%- endmacro %}
