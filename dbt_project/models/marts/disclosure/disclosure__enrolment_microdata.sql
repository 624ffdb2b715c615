{{ config(materialized='delta', location='gold/_disclosure/enrolment_microdata') }}

with prepared as (
    select * from {{ ref('education__enrolment_microdata__prepared') }}
),

{{ k_anonymize('prepared', ['school_year', 'school_level', 'age_band', 'sex'], 'age_band', var('k_anonymity')) }},

released as (
    select
        count(*) as records,
        count(distinct person_pseudonym) as persons,
        count(*) filter (where locally_suppressed) as locally_suppressed
    from k_anonymous
),

classes as (
    select count(distinct person_pseudonym) as class_persons
    from k_anonymous
    group by school_year, school_level, age_band, sex
)

select
    'enrolment_microdata' as dataset,
    released.records,
    released.persons,
    released.locally_suppressed,
    (select count(*) from k_dropped) as records_dropped,
    (select min(class_persons) from classes) as k_achieved,
    {{ var('k_anonymity') }} as k_required,
    current_timestamp as computed_at
from released
