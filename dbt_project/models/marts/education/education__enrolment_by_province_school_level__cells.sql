-- Internal: every cell of enrolment_by_province_school_level with raw count and suppression flags.
with enrolments as (
    select * from {{ ref('int_education__enrolments') }}
    where not province_unmatched
),

counted as (
    select province_code_2025, school_year, school_level, count(distinct person_pseudonym) as pupils
    from enrolments
    group by all
),

{{ suppress_cells('counted', ['province_code_2025', 'school_year', 'school_level'], 'pupils', var('min_cell_count')) }}

select * from suppressed_cells
