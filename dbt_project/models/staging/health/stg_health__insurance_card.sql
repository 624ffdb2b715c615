with source as (
    select * from {{ source('bronze_health', 'insurance_card') }}
),

renamed as (
    select
        card_id,
        card_no,
        citizen_id,
        beneficiary_group,
        valid_from,
        valid_to,
        valid_to >= valid_from as has_valid_period,
        updated_at,
        _batch_id as batch_id
    from source
)

select * from renamed
qualify row_number() over (partition by card_id order by updated_at desc) = 1
