with source as (
    select * from {{ source('bronze_health', 'hospital_visit') }}
),

renamed as (
    select
        visit_id,
        citizen_id,
        card_no,
        facility_code,
        icd10_code,
        -- legacy text dates: NULL when not a real YYYY-MM-DD date
        try_strptime(visit_date, '%Y-%m-%d')::date as visit_date,
        visit_date as visit_date_raw,
        cost_vnd,
        updated_at,
        _batch_id as batch_id
    from source
)

select * from renamed
qualify row_number() over (partition by visit_id order by updated_at desc) = 1
