-- Gold: registered vehicles by 2025 province of registration x vehicle type.
{{ config(materialized='delta', location='gold/vehicle_registrations_by_province_type') }}

with cells as (
    select * from {{ ref('transport__vehicle_registrations_by_province_type__cells') }}
),

provinces as (
    select * from {{ ref('provinces_2025') }}
)

select
    cells.province_code_2025,
    provinces.province_name_2025,
    cells.vehicle_type,
    case when not cells.suppressed then cells.registrations end as registrations,
    cells.suppressed
from cells
inner join provinces on cells.province_code_2025 = provinces.province_code_2025
order by cells.province_code_2025, cells.vehicle_type
