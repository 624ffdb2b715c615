with source as (
    select * from {{ source('bronze_population', 'citizen') }}
),

renamed as (
    select
        -- ids
        registry_id,
        citizen_id,
        -- direct identifiers (dropped in intermediate)
        nfc_normalize(full_name) as full_name,  -- Vietnamese text in one Unicode form (NFC)
        date_of_birth,
        phone,
        nfc_normalize(address_line) as address_line,
        -- dimensions
        cast(sex as integer) as sex_code,
        ethnicity_code,
        province_code as legacy_province_code,
        district_code as legacy_district_code,
        ward_code as legacy_ward_code,
        -- timestamps and lineage
        updated_at,
        _batch_id as batch_id,
        _ingested_at as ingested_at
    from source
),

deduplicated as (
    -- the registry has no enforced key: the latest update of a citizen wins; rows without an ID stay
    -- apart so the checks can quarantine each of them
    select *
    from renamed
    qualify row_number() over (
        partition by coalesce(citizen_id, 'registry:' || registry_id)
        order by updated_at desc, registry_id desc
    ) = 1
)

select * from deduplicated
