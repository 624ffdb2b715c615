-- Gold: pupils by 2025 province of the school x school level; counts below min_cell_count withheld.
-- Columns exactly as data_contracts/datasets/enrolment_by_province_school_level.odcs.yaml lists them.
{{ config(materialized='delta', location='gold/enrolment_by_province_school_level') }}

with enrolments as (
    select * from {{ ref('int_education__enrolments') }}
    where not province_unmatched
),

provinces as (
    select * from {{ ref('provinces_2025') }}
),

counted as (
    select province_code_2025, school_year, school_level, count(distinct person_pseudonym) as pupils
    from enrolments
    group by all
)

select
    counted.province_code_2025,
    provinces.province_name_2025,
    counted.school_year,
    counted.school_level,
    case when counted.pupils >= {{ var('min_cell_count') }} then counted.pupils end as pupils,
    counted.pupils < {{ var('min_cell_count') }} as suppressed
from counted
inner join provinces on counted.province_code_2025 = provinces.province_code_2025
order by counted.province_code_2025, counted.school_year, counted.school_level
