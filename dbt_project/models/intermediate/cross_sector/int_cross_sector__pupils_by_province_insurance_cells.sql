-- Internal: enrolled pupils by 2025 province of the school x whether they hold a valid insurance card,
-- joined across sectors through pseudonyms (no identifier is needed for the join).
-- Protection coordinated with enrolment_by_province_school_level (same pupils, see the contracts'
-- population): this table's two cells of a province add up to that province's enrolment, so where the
-- enrolment table withheld cells whose sum is too small to hide them among (fewer possible values than
-- the threshold once each is at least 1), both cells of the province are withheld here too.
with pupils as (
    select distinct person_pseudonym, province_code_2025
    from {{ ref('int_education__enrolments') }}
    where not province_unmatched
),

insured as (
    select distinct person_pseudonym
    from {{ ref('int_health__insurance_cards') }}
    where valid_on_reference_date
),

counted as (
    select
        pupils.province_code_2025,
        case when insured.person_pseudonym is not null then 'insured' else 'not_insured' end as insurance_status,
        count(*) as pupils
    from pupils
    left join insured on pupils.person_pseudonym = insured.person_pseudonym
    group by all
),

enrolment_withheld as (
    select
        province_code_2025,
        count(*) filter (where suppressed) as cells,
        coalesce(sum(pupils) filter (where suppressed), 0) as pupils
    from {{ ref('int_education__enrolment_by_province_school_level_cells') }}
    group by all
),

linked as (
    select
        counted.*,
        coalesce(
            withheld.cells > 0 and withheld.pupils - withheld.cells + 1 < {{ var('min_cell_count') }}, false
        ) as total_would_pin_enrolment
    from counted
    left join enrolment_withheld as withheld on counted.province_code_2025 = withheld.province_code_2025
),

{{ suppress_cells('linked', ['province_code_2025', 'insurance_status'], 'pupils', var('min_cell_count'),
                  unsafe='total_would_pin_enrolment',
                  release_of='pupils_by_province_insurance', published_as='pupils') }}

select * from suppressed_cells
