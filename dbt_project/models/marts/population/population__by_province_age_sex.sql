-- Gold: residents by 2025 province x five-year age band x sex; counts below min_cell_count withheld,
-- plus complementary suppression so no withheld count follows from a line total (see __cells).
-- Columns exactly as data_contracts/datasets/population_by_province_age_sex.odcs.yaml lists them.
{{ config(materialized='delta', location='gold/population_by_province_age_sex') }}

with cells as (
    select * from {{ ref('population__by_province_age_sex__cells') }}
),

provinces as (
    select * from {{ ref('provinces_2025') }}
)

select
    cells.province_code_2025,
    provinces.province_name_2025,
    cells.age_band,
    cells.sex,
    case when not cells.suppressed then cells.residents end as population,
    cells.suppressed
from cells
inner join provinces on cells.province_code_2025 = provinces.province_code_2025
order by cells.province_code_2025, cells.age_band, cells.sex
