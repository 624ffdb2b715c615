-- Gold microdata: one row per pupil, k-anonymous on (province, school level, age band, sex): records in
-- classes smaller than k lose the province, then are dropped if still unique enough. No pseudonym, so
-- rows cannot be linked to any other table. Columns as data_contracts/datasets/enrolment_microdata.odcs.yaml.
{{ config(materialized='delta', location='gold/enrolment_microdata') }}

with prepared as (
    select * from {{ ref('education__enrolment_microdata__prepared') }}
),

{{ k_anonymize('prepared', ['province_code_2025', 'school_level', 'age_band', 'sex'], 'province_code_2025', var('k_anonymity')) }}

select
    row_number() over (order by school_year, province_code_2025, school_level, age_band, sex) as record_no,
    school_year,
    province_code_2025,
    school_level,
    age_band,
    sex,
    locally_suppressed
from k_anonymous
