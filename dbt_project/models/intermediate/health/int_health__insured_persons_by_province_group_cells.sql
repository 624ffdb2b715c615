-- Internal: persons with a valid card on the reference date, by 2025 province of residence x group.
with cards as (
    select distinct person_pseudonym, beneficiary_group
    from {{ ref('int_health__insurance_cards') }}
    where valid_on_reference_date and not beneficiary_group_unknown
),

residents as (
    select person_pseudonym, province_code_2025 from {{ ref('int_population__residents') }}
),

counted as (
    select residents.province_code_2025, cards.beneficiary_group, count(*) as insured_persons
    from cards
    inner join residents on cards.person_pseudonym = residents.person_pseudonym
    group by all
),

{{ suppress_cells('counted', ['province_code_2025', 'beneficiary_group'], 'insured_persons', var('min_cell_count'),
                  release_of='insured_persons_by_province_group', published_as='insured_persons') }}

select * from suppressed_cells
