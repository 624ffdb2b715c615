-- The ward crosswalk (matched by names) must put a resident in the province the province crosswalk says.
{{ config(severity='warn') }}
select residents.legacy_ward_code, residents.province_code_2025, wards.province_code_2025 as ward_province
from {{ ref('int_population__residents') }} as residents
inner join {{ ref('ward_crosswalk_2025') }} as wards on residents.legacy_ward_code = wards.legacy_ward_code
where wards.mapping != 'unmatched' and wards.province_code_2025 != residents.province_code_2025
