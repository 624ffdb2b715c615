-- Gold: pupils by 2025 province of the school x school year x school level; small cells withheld with
-- complementary suppression (see __cells).
-- Columns exactly as data_contracts/datasets/enrolment_by_province_school_level.odcs.yaml lists them.
{{ config(materialized='delta', location='gold/enrolment_by_province_school_level') }}

with cells as (
    select * from {{ ref('education__enrolment_by_province_school_level__cells') }}
),

provinces as (
    select * from {{ ref('provinces_2025') }}
)

select
    cells.province_code_2025,
    provinces.province_name_2025,
    cells.school_year,
    cells.school_level,
    case when not cells.suppressed then cells.pupils end as pupils,
    cells.suppressed
from cells
inner join provinces on cells.province_code_2025 = provinces.province_code_2025
order by cells.province_code_2025, cells.school_year, cells.school_level
