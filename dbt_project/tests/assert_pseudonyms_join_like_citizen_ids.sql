-- The same person gets the same pseudonym in every sector: joining education to population through
-- pseudonyms yields exactly the pairs a join through citizen IDs yields (key-independent check).
with by_citizen_id as (
    select count(*) as pairs
    from {{ ref('stg_education__enrolment') }} as enrolments
    inner join {{ ref('int_population__citizen_checked') }} as citizens
        on enrolments.citizen_id = citizens.citizen_id
    where citizens.reject_reason is null and enrolments.deleted_at is null
),

by_pseudonym as (
    select count(*) as pairs
    from {{ ref('int_education__enrolments') }} as enrolments
    inner join {{ ref('int_population__residents') }} as residents
        on enrolments.person_pseudonym = residents.person_pseudonym
)

select by_citizen_id.pairs as by_citizen_id, by_pseudonym.pairs as by_pseudonym
from by_citizen_id, by_pseudonym
where by_citizen_id.pairs != by_pseudonym.pairs
