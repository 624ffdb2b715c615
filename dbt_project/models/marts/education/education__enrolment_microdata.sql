-- Gold microdata: one row per pupil and school year, k-anonymous on every published column but the row
-- number (school year, school level, age band, sex), with classes counted in pupils: records in classes
-- of fewer than k pupils lose the age band, then are dropped if still too rare. No pseudonym, no
-- geography. Columns as data_contracts/datasets/enrolment_microdata.odcs.yaml.
{{ config(materialized='delta', location='gold/enrolment_microdata') }}

with prepared as (
    select * from {{ ref('education__enrolment_microdata__prepared') }}
),

{{ k_anonymize('prepared', ['school_year', 'school_level', 'age_band', 'sex'], 'age_band', var('k_anonymity')) }}

select
    row_number() over (order by school_year, school_level, age_band, sex) as record_no,
    school_year,
    school_level,
    age_band,
    sex,
    locally_suppressed
from k_anonymous
