-- Internal: every cell of population_by_province_age_sex with its raw count and suppression flags.
-- Not published (raw small counts); feeds the open dataset and its disclosure summary.
with residents as (
    select * from {{ ref('int_population__residents') }}
),

counted as (
    select province_code_2025, age_band, sex, count(*) as residents
    from residents
    group by all
),

{{ suppress_cells('counted', ['province_code_2025', 'age_band', 'sex'], 'residents', var('min_cell_count'),
                  release_of='population_by_province_age_sex', published_as='population') }}

select * from suppressed_cells
