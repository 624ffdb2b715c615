-- Every pseudonym in silver is a 64-hex-digit HMAC-SHA-256, never NULL or a raw identifier.
{% for model in ['int_population__residents', 'int_education__enrolments', 'int_health__insurance_cards', 'int_transport__vehicle_registrations'] %}
select '{{ model }}' as model, person_pseudonym
from {{ ref(model) }}
where person_pseudonym is null or not regexp_full_match(person_pseudonym, '[0-9a-f]{64}')
{% if not loop.last %}union all{% endif %}
{% endfor %}
