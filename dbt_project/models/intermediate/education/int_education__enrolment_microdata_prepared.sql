-- Internal: one row per enrolled pupil and school year with generalised quasi-identifiers (school
-- level, five-year age band, sex) before local suppression. Never published. No geography: the province
-- aggregates of the same pupils are open, and a province here could be subtracted from them (issue 12).
-- The pseudonym stays so that k counts pupils, not records; it is dropped before gold.
with enrolments as (
    select distinct person_pseudonym, school_level, school_year
    from {{ ref('int_education__enrolments') }}
    where not province_unmatched
),

residents as (
    select person_pseudonym, age_band, sex from {{ ref('int_population__residents') }}
)

select
    enrolments.person_pseudonym,
    enrolments.school_year,
    enrolments.school_level,
    residents.age_band,
    residents.sex
from enrolments
inner join residents on enrolments.person_pseudonym = residents.person_pseudonym
