{#-
  k-anonymity by local suppression, as CTEs over `source_cte` (one row per person, quasi-identifiers
  already generalised). Records in an equivalence class smaller than k first lose `suppress_first`
  (set to NULL, i.e. '*'); records still in a class smaller than k are dropped. Emits CTEs ending in
  `k_anonymous` (the released rows, with `locally_suppressed`) and `k_dropped` (the dropped rows).
-#}
{% macro k_anonymize(source_cte, quasi_identifiers, suppress_first, k) %}
k_step_1 as (
    select *, count(*) over (partition by {{ quasi_identifiers | join(', ') }}) as k_class_size
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
    select *, count(*) over (partition by {{ quasi_identifiers | join(', ') }}) as k_class_size
    from k_step_2
),

k_anonymous as (
    select * exclude (k_class_size) from k_step_3 where k_class_size >= {{ k }}
),

k_dropped as (
    select * exclude (k_class_size) from k_step_3 where k_class_size < {{ k }}
)
{% endmacro %}
