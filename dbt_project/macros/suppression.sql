{#-
  Small-cell suppression as CTEs, for an aggregate CTE `source_cte` with one row per cell.

  Primary: cells with count < min_count, or where `unsafe` (a SQL condition on the source's columns)
  holds: e.g. fewer distinct owners than the threshold, or one owner holding most of the cell
  (dominance), when the count is of vehicles rather than persons. Zero cells have no row (the
  contract's zeroCells: absent); the publisher's release-set audit treats a missing row as a known 0.
  With `release_of` (the dataset's name), a cell whose count moved by 1..min_count-1 from the value
  the last release that published it showed is unsafe too: the difference would identify the persons
  who arrived or left (releases are read from the release log, <lake>/gold/_releases/<dataset>/).
  Complementary: a line of cells (all cells that share every
  dimension but one) that holds exactly one suppressed cell would give it away through the line's
  total, so its smallest published cell is suppressed too; repeated over every dimension until stable
  (`rounds` passes). Emits CTEs ending in `suppressed_cells` with columns: the source's, plus
  `primary_suppressed` and `suppressed` (booleans). Call inside a WITH list, after `source_cte`.
  Each step is MATERIALIZED: inlined, every step repeats the previous step's `suppressed` expression
  twice and DuckDB's plan doubles per step (measured: 8 steps over 30 cells took 30 s, now 0.1 s).
-#}
{% macro suppress_cells(source_cte, dimensions, count_column, min_count, rounds=4, unsafe=none, release_of=none, published_as=none) %}
{%- set primary = count_column ~ ' < ' ~ min_count ~ (' or (' ~ unsafe ~ ')' if unsafe else '') %}
{%- if release_of %}
released_cells as (
    {{ released_cells(release_of, dimensions, published_as or count_column) }}
),
with_release as (
    select source.*, released_cells.released_count
    from {{ source_cte }} as source
    left join released_cells using ({{ dimensions | join(', ') }})
),
{%- set source_cte = 'with_release' %}
{%- set primary = primary ~ ' or (released_count is not null and abs(' ~ count_column ~ ' - released_count) between 1 and ' ~ (min_count | int - 1) ~ ')' %}
{%- endif %}
suppression_step_0 as materialized (
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
suppression_step_{{ ns.step }} as materialized (
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
  suppressed) and `suppressed`. Column order follows the dataset contract (enforced by dbt): by default
  province code and name, the other dimensions, the count, suppressed; or `columns` (the contract's
  order), where `ward_name_2025` is the 2025 ward's name and `measures` maps further published values
  (withheld with the cell) to their cell columns.
-#}
{% macro open_aggregate(cells_model, dimensions, count_column, published_as, measures={}, columns=none) %}
{%- set columns = columns or (['province_code_2025', 'province_name_2025'] + (dimensions | reject('equalto', 'province_code_2025') | list) + [published_as, 'suppressed']) %}
with cells as (
    select * from {{ ref(cells_model) }}
),

provinces as (
    select * from {{ ref('provinces_2025') }}
){% if 'ward_name_2025' in columns %},

wards as (
    select distinct ward_code_2025, ward_name_2025 from {{ ref('ward_crosswalk_2025') }} where ward_code_2025 is not null
){% endif %}

select
    {%- for c in columns %}
    {% if c == 'province_name_2025' -%} provinces.province_name_2025
    {%- elif c == 'ward_name_2025' -%} wards.ward_name_2025
    {%- elif c == published_as -%} case when not cells.suppressed then cells.{{ count_column }} end as {{ published_as }}
    {%- elif c in measures -%} case when not cells.suppressed then cells.{{ measures[c] }} end as {{ c }}
    {%- elif c == 'suppressed' or c in dimensions -%} cells.{{ c }}
    {%- else -%} {{ exceptions.raise_compiler_error("open_aggregate: column " ~ c ~ " is neither a dimension, a measure nor a unit name") }}
    {%- endif %}{% if not loop.last %},{% endif %}
    {%- endfor %}
from cells
inner join provinces on cells.province_code_2025 = provinces.province_code_2025
{%- if 'ward_name_2025' in columns %}
inner join wards on cells.ward_code_2025 = wards.ward_code_2025
{%- endif %}
order by {% for d in dimensions %}cells.{{ d }}{% if not loop.last %}, {% endif %}{% endfor %}
{% endmacro %}

{#-
  Every cell an earlier release published, with the value its newest publishing release showed
  (`released_count`), from the release log the publisher keeps in the lake. Empty before the first
  release, at parse time, and where var read_release_log is false (unit tests: hermetic).
-#}
{% macro released_cells(dataset, dimensions, published_as) %}
{%- set pattern = env_var('LAKE_ROOT') ~ '/gold/_releases/' ~ dataset ~ '/v*.parquet' -%}
{%- set found = namespace(files=0) -%}
{%- if execute and var('read_release_log', true) -%}
  {%- set found.files = run_query("select count(*) from glob('" ~ pattern ~ "')").columns[0].values()[0] -%}
{%- endif -%}
{%- if found.files > 0 %}
    select {{ dimensions | join(', ') }}, released_count
    from (
        select
            {{ dimensions | join(', ') }},
            {{ published_as }}::bigint as released_count,
            row_number() over (
                partition by {{ dimensions | join(', ') }}
                order by regexp_extract(filename, 'v([0-9]+)[.]parquet$', 1)::bigint desc
            ) as newest
        from read_parquet('{{ pattern }}', filename = true, union_by_name = true)
        where not suppressed
    )
    where newest = 1
{%- else %}
    select {% for d in dimensions %}null::varchar as {{ d }}, {% endfor %}null::bigint as released_count
    where false
{%- endif %}
{% endmacro %}
