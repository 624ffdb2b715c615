with source as (
    select * from {{ source('bronze_education', 'enrolment') }}
),

renamed as (
    select
        enrolment_id,
        citizen_id,
        school_code,
        school_year,
        cast(grade_level as integer) as grade_level,
        enrolled_on,
        deleted_at,
        updated_at,
        _batch_id as batch_id
    from source
)

select * from renamed
qualify row_number() over (partition by enrolment_id order by updated_at desc) = 1
