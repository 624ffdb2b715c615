select province_code_2025, age_band, sex, count(*) as n
from {{ ref('population__by_province_age_sex') }}
group by all
having count(*) > 1
