with source as (
    select * from {{ source('bronze_transport', 'vehicle_registration') }}
),

renamed as (
    select
        registration_id,
        plate_no,
        citizen_id,
        vehicle_type,
        province_code as legacy_province_code,
        registered_on,
        updated_at,
        _batch_id as batch_id
    from source
)

select * from renamed
qualify row_number() over (partition by registration_id order by updated_at desc) = 1
