-- Every deduplicated citizen with the first check it fails (NULL = usable). Feeds silver and quarantine.
-- The contract's quality rules come compiled from data_contracts/sources/population/citizen.odcs.yaml
-- (the same SQL Spark checked at ingestion, with the reference date as today); the checks after them
-- need what a row rule cannot see: the silver-only NULL policy and the 2025 crosswalk.
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
        coalesce(
            {{ contract_quality_population__citizen(columns={'sex': 'sex_code', 'province_code': 'legacy_province_code',
                                                             'district_code': 'legacy_district_code',
                                                             'ward_code': 'legacy_ward_code'}) | indent(12) }},
            case
                when citizens.date_of_birth is null then 'date_of_birth missing'
                when citizens.sex_code is null then 'sex missing'
                when crosswalk.province_code_2025 is null then 'province_code unknown in the 2025 crosswalk'
            end
        ) as reject_reason
    from citizens
    left join crosswalk on citizens.legacy_province_code = crosswalk.legacy_province_code
)

select * from checked
