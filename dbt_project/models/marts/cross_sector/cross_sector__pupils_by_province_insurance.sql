-- Gold (cross-sector): health-insurance coverage of enrolled pupils by 2025 province of the school.
{{ config(materialized='delta', location='gold/pupils_by_province_insurance') }}

with cells as (
    select * from {{ ref('cross_sector__pupils_by_province_insurance__cells') }}
),

provinces as (
    select * from {{ ref('provinces_2025') }}
)

select
    cells.province_code_2025,
    provinces.province_name_2025,
    cells.insurance_status,
    case when not cells.suppressed then cells.pupils end as pupils,
    cells.suppressed
from cells
inner join provinces on cells.province_code_2025 = provinces.province_code_2025
order by cells.province_code_2025, cells.insurance_status
