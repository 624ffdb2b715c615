{#- One-row disclosure summary of a suppressed cell table (model `cells_model`): what the publisher's
    disclosure report states about primary and complementary suppression, and what it cost (units
    withheld). The gate reconciles cells, suppressions and the smallest count with the published table.
    Where the count is not of persons (vehicles), `persons_column` (distinct owners per cell) and
    `largest_column` (the largest owner's units) give the smallest published cell in persons and the
    largest share one person holds in a published cell, which the gate checks against the contract. -#}
{% macro disclosure_summary(dataset, cells_model, count_column, persons_column=none, largest_column=none) %}
select
    '{{ dataset }}' as dataset,
    count(*) as cells,
    count(*) filter (where primary_suppressed) as primary_suppressed,
    count(*) filter (where suppressed and not primary_suppressed) as complementary_suppressed,
    coalesce(sum({{ count_column }}) filter (where suppressed), 0)::bigint as units_suppressed,
    min({{ count_column }}) filter (where not suppressed) as smallest_published_count,
    min({{ persons_column or count_column }}) filter (where not suppressed) as smallest_published_persons,
    {%- if largest_column %}
    max({{ largest_column }} / {{ count_column }}) filter (where not suppressed) as largest_published_share,
    {%- else %}
    null::double as largest_published_share,
    {%- endif %}
    {{ var('min_cell_count') }} as min_cell_count,
    current_timestamp as computed_at
from {{ ref(cells_model) }}
{% endmacro %}

{#- One-row disclosure summary of a k-anonymous microdata dataset, from its prepared model (one row per
    record, quasi-identifiers generalised, person_pseudonym): records and persons released, records
    locally suppressed and dropped, the smallest class in persons against k. -#}
{% macro k_anonymity_summary(dataset, prepared_model, quasi_identifiers, suppress_first) %}
with prepared as (
    select * from {{ ref(prepared_model) }}
),

{{ k_anonymize('prepared', quasi_identifiers, suppress_first, var('k_anonymity')) }},

released as (
    select
        count(*) as records,
        count(distinct person_pseudonym) as persons,
        count(*) filter (where locally_suppressed) as locally_suppressed
    from k_anonymous
),

classes as (
    select count(distinct person_pseudonym) as class_persons
    from k_anonymous
    group by {{ quasi_identifiers | join(', ') }}
)

select
    '{{ dataset }}' as dataset,
    released.records,
    released.persons,
    released.locally_suppressed,
    (select count(*) from k_dropped) as records_dropped,
    (select min(class_persons) from classes) as k_achieved,
    {{ var('k_anonymity') }} as k_required,
    current_timestamp as computed_at
from released
{% endmacro %}
