-- Every deduplicated citizen with the first check it fails (NULL = usable). Feeds silver and quarantine.
with citizens as (
    select * from {{ ref('stg_population__citizen') }}
),

crosswalk as (
    select * from {{ ref('province_crosswalk_2025') }}
),

checked as (
    select
        citizens.*,
        crosswalk.province_code_2025,
        case
            when citizens.citizen_id is null then 'missing citizen_id'
            when not regexp_full_match(citizens.citizen_id, '[0-9]{12}') then 'malformed citizen_id'
            when citizens.date_of_birth is null
                or citizens.date_of_birth > {{ reference_date() }}
                or citizens.date_of_birth < date '1900-01-01' then 'invalid date_of_birth'
            when citizens.sex_code is null or citizens.sex_code not in (1, 2) then 'unknown sex'
            when crosswalk.province_code_2025 is null then 'unknown province_code'
        end as reject_reason
    from citizens
    left join crosswalk on citizens.legacy_province_code = crosswalk.legacy_province_code
)

select * from checked
