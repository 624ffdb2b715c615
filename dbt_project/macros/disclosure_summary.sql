{#- One-row disclosure summary of a suppressed cell table (model `cells_model`): what the publisher's
    disclosure report states about primary and complementary suppression, and what it cost (units
    withheld). The gate reconciles cells, suppressions and the smallest count with the published table. -#}
{% macro disclosure_summary(dataset, cells_model, count_column) %}
select
    '{{ dataset }}' as dataset,
    count(*) as cells,
    count(*) filter (where primary_suppressed) as primary_suppressed,
    count(*) filter (where suppressed and not primary_suppressed) as complementary_suppressed,
    coalesce(sum({{ count_column }}) filter (where suppressed), 0) as units_suppressed,
    min({{ count_column }}) filter (where not suppressed) as smallest_published_count,
    {{ var('min_cell_count') }} as min_cell_count,
    current_timestamp as computed_at
from {{ ref(cells_model) }}
{% endmacro %}
