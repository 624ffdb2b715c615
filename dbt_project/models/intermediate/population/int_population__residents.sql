-- Silver: one row per valid resident, pseudonymised (keyed HMAC), 2025 provinces, no direct identifiers.
{{ config(materialized='delta', location='silver/population/residents') }}

with valid as (
    select * from {{ ref('int_population__citizen_checked') }}
    where reject_reason is null
),

aged as (
    select
        *,
        cast(date_part('year', age({{ reference_date() }}, date_of_birth)) as integer) as age
    from valid
)

select
    {{ pseudonym("citizen_id") }} as person_pseudonym,
    cast(year(date_of_birth) as integer) as birth_year,
    age,
    {{ age_band('age') }} as age_band,
    case sex_code when 1 then 'male' when 2 then 'female' end as sex,
    ethnicity_code,
    province_code_2025,
    legacy_province_code,
    batch_id
from aged
