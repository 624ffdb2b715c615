-- Internal: enrolled pupils by 2025 province of the school x whether they hold a valid insurance card,
-- joined across sectors through pseudonyms (no identifier is needed for the join).
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

{{ suppress_cells('counted', ['province_code_2025', 'insurance_status'], 'pupils', var('min_cell_count')) }}

select * from suppressed_cells
