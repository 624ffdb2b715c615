-- Silver: vehicle registrations with the owner's pseudonym and the 2025 province of registration.
-- No plate number. Unknown legacy province codes are kept and flagged.
{{ config(materialized='delta', location=lake_location(this)) }}

with registrations as (
    select * from {{ ref('stg_transport__vehicle_registration') }}
    where citizen_id is not null
),

crosswalk as (
    select * from {{ ref('province_crosswalk_2025') }}
)

select
    {{ pseudonym('registrations.citizen_id') }} as person_pseudonym,
    registrations.registration_id,
    registrations.vehicle_type,
    registrations.legacy_province_code,
    crosswalk.province_code_2025,
    crosswalk.province_code_2025 is null as province_unmatched,
    registrations.registered_on,
    registrations.batch_id
from registrations
left join crosswalk on registrations.legacy_province_code = crosswalk.legacy_province_code
