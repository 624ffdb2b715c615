{{ config(materialized='delta', location='gold/_disclosure/population_by_province_age_sex') }}
{{ disclosure_summary('population_by_province_age_sex', 'population__by_province_age_sex__cells', 'residents') }}
