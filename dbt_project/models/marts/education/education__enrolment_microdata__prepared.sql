-- Internal: one row per enrolled pupil with generalised quasi-identifiers (five-year age band, sex,
-- 2025 province of the school, school level) before local suppression. Never published.
with enrolments as (
    select distinct person_pseudonym, province_code_2025, school_level, school_year
    from {{ ref('int_education__enrolments') }}
    where not province_unmatched
),

residents as (
    select person_pseudonym, age_band, sex from {{ ref('int_population__residents') }}
)

select
    enrolments.school_year,
    enrolments.province_code_2025,
    enrolments.school_level,
    residents.age_band,
    residents.sex
from enrolments
inner join residents on enrolments.person_pseudonym = residents.person_pseudonym
