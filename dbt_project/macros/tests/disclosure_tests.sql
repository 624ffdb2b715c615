{#- Generic tests of the disclosure rules; they fail (return rows) on any breach. -#}

{# No column whose name a source contract classifies as a direct identifier (the list comes from the
   contracts: bin/lakehouse transform passes var direct_identifiers). #}
{% test no_direct_identifiers(model) %}
  {%- set identifiers = var('direct_identifiers') -%}
  {%- if execute and not identifiers -%}{{ exceptions.raise_compiler_error("var direct_identifiers is empty: run dbt through bin/lakehouse transform") }}{%- endif -%}
  {%- set columns = adapter.get_columns_in_relation(model) | map(attribute='name') | map('lower') | list -%}
  select '{{ model }}' as relation, column_name
  from (values {% for c in columns %}('{{ c }}'){% if not loop.last %}, {% endif %}{% endfor %}) as t(column_name)
  where column_name in ({% for i in identifiers %}'{{ i }}'{% if not loop.last %}, {% endif %}{% endfor %})
{% endtest %}

{# Every published count is at least the minimum cell count (smaller ones must be NULL = suppressed). #}
{% test no_small_cells(model, count_column, min_count=none) %}
  select *
  from {{ model }}
  where {{ count_column }} is not null
    and {{ count_column }} < {{ min_count if min_count is not none else var('min_cell_count') }}
{% endtest %}

{# Every combination of the quasi-identifiers (NULL = suppressed, a value of its own) occurs >= k times. #}
{% test k_anonymity(model, quasi_identifiers, k=none) %}
  select {{ quasi_identifiers | join(', ') }}, count(*) as class_size
  from {{ model }}
  group by {{ quasi_identifiers | join(', ') }}
  having count(*) < {{ k if k is not none else var('k_anonymity') }}
{% endtest %}
