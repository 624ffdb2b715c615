-- Silver: enrolments with the pupil's pseudonym, school level and the school's 2025 province.
-- Schools keep pre-2025 codes (first two digits = legacy province); unmatched ones are kept and flagged.
{{ config(materialized='delta', location=lake_location(this)) }}

with enrolments as (
    select * from {{ ref('stg_education__enrolment') }}
    where deleted_at is null and citizen_id is not null
),

grades as (
    select * from {{ ref('grade_level') }}
),

crosswalk as (
    select * from {{ ref('province_crosswalk_2025') }}
)

select
    {{ pseudonym('enrolments.citizen_id') }} as person_pseudonym,
    enrolments.enrolment_id,
    enrolments.school_year,
    enrolments.grade_level,
    grades.school_level,
    left(enrolments.school_code, 2) as legacy_province_code,
    crosswalk.province_code_2025,
    crosswalk.province_code_2025 is null as province_unmatched,
    enrolments.enrolled_on,
    enrolments.batch_id
from enrolments
left join grades on enrolments.grade_level = grades.grade_level
left join crosswalk on left(enrolments.school_code, 2) = crosswalk.legacy_province_code
