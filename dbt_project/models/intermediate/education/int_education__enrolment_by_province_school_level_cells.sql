-- Internal: every cell of enrolment_by_province_school_level with raw count and suppression flags.
-- A province of at most the threshold's pupils is withheld whole: pupils_by_province_insurance publishes
-- the same pupils by insurance status, and a small published province total would pin its cells there.
with enrolments as (
    select * from {{ ref('int_education__enrolments') }}
    where not province_unmatched
),

counted as (
    select
        province_code_2025,
        school_year,
        school_level,
        count(distinct person_pseudonym) as pupils,
        sum(count(distinct person_pseudonym)) over (partition by province_code_2025) as province_pupils
    from enrolments
    group by province_code_2025, school_year, school_level
),

{{ suppress_cells('counted', ['province_code_2025', 'school_year', 'school_level'], 'pupils', var('min_cell_count'),
                  unsafe='province_pupils <= ' ~ var('min_cell_count'),
                  release_of='enrolment_by_province_school_level', published_as='pupils') }}

select * exclude (province_pupils) from suppressed_cells
