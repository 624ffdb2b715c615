-- Silver: one row per valid resident, pseudonymised (keyed HMAC), 2025 provinces, no direct identifiers.
{{ config(materialized='delta', location=lake_location(this)) }}

with valid as (
    select * from {{ ref('int_population__citizen_checked') }}
    where reject_reason is null
),

wards as (
    select * from {{ ref('ward_crosswalk_2025') }}
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
    aged.province_code_2025,
    wards.ward_code_2025,
    -- one_to_one / split (see seeds/admin_units/README.md) / unmatched: kept, flagged, counted
    coalesce(wards.mapping, 'unmatched') as ward_mapping,
    aged.legacy_province_code,
    aged.legacy_ward_code,
    aged.batch_id
from aged
left join wards on aged.legacy_ward_code = wards.legacy_ward_code
