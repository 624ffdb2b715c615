-- Silver: health-insurance cards with the holder's pseudonym; no card number, no citizen ID.
{{ config(materialized='delta', location=lake_location(this)) }}

with cards as (
    select * from {{ ref('stg_health__insurance_card') }}
    where citizen_id is not null and has_valid_period
),

groups as (
    select * from {{ ref('insurance_beneficiary_group') }}
)

select
    {{ pseudonym('cards.citizen_id') }} as person_pseudonym,
    cards.card_id,
    cards.beneficiary_group,
    groups.beneficiary_group is null as beneficiary_group_unknown,
    cards.valid_from,
    cards.valid_to,
    {{ reference_date() }} between cards.valid_from and cards.valid_to as valid_on_reference_date,
    cards.batch_id
from cards
left join groups on cards.beneficiary_group = groups.beneficiary_group
