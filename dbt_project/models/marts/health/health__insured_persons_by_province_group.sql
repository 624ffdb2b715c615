-- Gold: persons insured on the reference date by 2025 province of residence x beneficiary group.
{{ config(materialized='delta') }}

with cells as (
    select * from {{ ref('int_health__insured_persons_by_province_group_cells') }}
),

provinces as (
    select * from {{ ref('provinces_2025') }}
),

groups as (
    select * from {{ ref('insurance_beneficiary_group') }}
)

select
    cells.province_code_2025,
    provinces.province_name_2025,
    cells.beneficiary_group,
    groups.label_en as beneficiary_group_label,
    case when not cells.suppressed then cells.insured_persons end as insured_persons,
    cells.suppressed
from cells
inner join provinces on cells.province_code_2025 = provinces.province_code_2025
inner join groups on cells.beneficiary_group = groups.beneficiary_group
order by cells.province_code_2025, cells.beneficiary_group
