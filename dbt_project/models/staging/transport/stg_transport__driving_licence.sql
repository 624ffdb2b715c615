with source as (
    select * from {{ source('bronze_transport', 'driving_licence') }}
),

renamed as (
    select
        licence_id,
        licence_no,
        citizen_id,
        licence_class,
        issued_on,
        expires_on,
        updated_at,
        _batch_id as batch_id
    from source
)

select * from renamed
qualify row_number() over (partition by licence_id order by updated_at desc) = 1
