{#-
  Small-cell suppression as CTEs, for an aggregate CTE `source_cte` with one row per cell.

  Primary: cells with count < min_count, or where `unsafe` (a SQL condition on the source's columns)
  holds: e.g. fewer distinct owners than the threshold, or one owner holding most of the cell
  (dominance), when the count is of vehicles rather than persons. Zero cells have no row (the
  contract's zeroCells: absent); the publisher's release-set audit treats a missing row as a known 0.
  Complementary: a line of cells (all cells that share every
  dimension but one) that holds exactly one suppressed cell would give it away through the line's
  total, so its smallest published cell is suppressed too; repeated over every dimension until stable
  (`rounds` passes). Emits CTEs ending in `suppressed_cells` with columns: the source's, plus
  `primary_suppressed` and `suppressed` (booleans). Call inside a WITH list, after `source_cte`.
-#}
{% macro suppress_cells(source_cte, dimensions, count_column, min_count, rounds=4, unsafe=none) %}
{%- set primary = count_column ~ ' < ' ~ min_count ~ (' or (' ~ unsafe ~ ')' if unsafe else '') %}
suppression_step_0 as (
    select
        *,
        {{ primary }} as primary_suppressed,
        {{ primary }} as suppressed
    from {{ source_cte }}
),
{%- set ns = namespace(step=0) %}
{%- for round in range(rounds) %}
{%- for varying in dimensions %}
{%- set others = dimensions | reject('equalto', varying) | list %}
{%- set ns.step = ns.step + 1 %}
suppression_step_{{ ns.step }} as (
    select * exclude (line_suppressed, line_rank) replace (
        suppressed or (line_suppressed = 1 and not suppressed and line_rank = 1) as suppressed
    )
    from (
        select
            *,
            sum(suppressed::int) over (partition by {{ others | join(', ') if others else '1' }}) as line_suppressed,
            row_number() over (
                partition by {{ (others + ['suppressed']) | join(', ') }}
                order by {{ count_column }}, {{ dimensions | join(', ') }}
            ) as line_rank
        from suppression_step_{{ ns.step - 1 }}
    )
),
{%- endfor %}
{%- endfor %}
suppressed_cells as (
    select * from suppression_step_{{ ns.step }}
)
{% endmacro %}

{#-
  The published form of a suppressed cell table (`cells_model`, from suppress_cells): the 2025
  province name beside its code, the other dimensions, the count as `published_as` (NULL where
  suppressed) and `suppressed`. Column order follows the dataset contract (enforced by dbt).
-#}
{% macro open_aggregate(cells_model, dimensions, count_column, published_as) %}
with cells as (
    select * from {{ ref(cells_model) }}
),

provinces as (
    select * from {{ ref('provinces_2025') }}
)

select
    cells.province_code_2025,
    provinces.province_name_2025,
    {%- for d in dimensions if d != 'province_code_2025' %}
    cells.{{ d }},
    {%- endfor %}
    case when not cells.suppressed then cells.{{ count_column }} end as {{ published_as }},
    cells.suppressed
from cells
inner join provinces on cells.province_code_2025 = provinces.province_code_2025
order by {% for d in dimensions %}cells.{{ d }}{% if not loop.last %}, {% endif %}{% endfor %}
{% endmacro %}
