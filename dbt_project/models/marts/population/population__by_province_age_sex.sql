-- Gold: residents by 2025 province x five-year age band x sex; counts below min_cell_count withheld.
-- Columns exactly as data_contracts/datasets/population_by_province_age_sex.odcs.yaml lists them.
{{ config(materialized='delta', location='gold/population_by_province_age_sex') }}

with residents as (
    select * from {{ ref('int_population__residents') }}
),

provinces as (
    select * from {{ ref('provinces_2025') }}
),

counted as (
    select province_code_2025, age_band, sex, count(*) as residents
    from residents
    group by all
)

select
    counted.province_code_2025,
    provinces.province_name_2025,
    counted.age_band,
    counted.sex,
    case when counted.residents >= {{ var('min_cell_count') }} then counted.residents end as population,
    counted.residents < {{ var('min_cell_count') }} as suppressed
from counted
inner join provinces on counted.province_code_2025 = provinces.province_code_2025
order by counted.province_code_2025, counted.age_band, counted.sex
