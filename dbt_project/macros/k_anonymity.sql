{#-
  k-anonymity by local suppression, as CTEs over `source_cte` (one row per record, quasi-identifiers
  already generalised, and `person_column`: the person a record belongs to). Classes are counted in
  distinct persons, not records, so one person's several records never make a class look larger.
  Records in an equivalence class of fewer than k persons first lose `suppress_first` (set to NULL,
  i.e. '*'); records still in a class of fewer than k persons are dropped. Emits CTEs ending in
  `k_anonymous` (the released rows, with `locally_suppressed`; `person_column` still there, drop it
  before publishing) and `k_dropped` (the dropped rows).
-#}
{% macro k_anonymize(source_cte, quasi_identifiers, suppress_first, k, person_column='person_pseudonym') %}
k_step_1 as (
    select *, count(distinct {{ person_column }}) over (partition by {{ quasi_identifiers | join(', ') }}) as k_class_size
    from {{ source_cte }}
),

k_step_2 as (
    select
        * exclude (k_class_size, {{ suppress_first }}),
        case when k_class_size >= {{ k }} then {{ suppress_first }} end as {{ suppress_first }},
        k_class_size < {{ k }} as locally_suppressed
    from k_step_1
),

k_step_3 as (
    select *, count(distinct {{ person_column }}) over (partition by {{ quasi_identifiers | join(', ') }}) as k_class_size
    from k_step_2
),

k_anonymous as (
    select * exclude (k_class_size) from k_step_3 where k_class_size >= {{ k }}
),

k_dropped as (
    select * exclude (k_class_size) from k_step_3 where k_class_size < {{ k }}
)
{% endmacro %}
