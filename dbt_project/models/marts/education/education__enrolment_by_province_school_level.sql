-- Gold: pupils by 2025 province of the school x school level; counts below min_cell_count withheld,
-- with complementary suppression (macros/suppression.sql).
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
),

{{ suppress_cells('counted', ['province_code_2025', 'school_year', 'school_level'], 'pupils', var('min_cell_count')) }}

select
    cells.province_code_2025,
    provinces.province_name_2025,
    cells.school_year,
    cells.school_level,
    case when not cells.suppressed then cells.pupils end as pupils,
    cells.suppressed
from suppressed_cells as cells
inner join provinces on cells.province_code_2025 = provinces.province_code_2025
order by cells.province_code_2025, cells.school_year, cells.school_level
