-- Gold: residents by 2025 province x five-year age band x sex; small cells withheld with complementary
-- suppression (see __cells). Columns as data_contracts/datasets/population_by_province_age_sex.odcs.yaml.
{{ config(materialized='delta', location='gold/population_by_province_age_sex') }}

{{ open_aggregate('population__by_province_age_sex__cells', ['province_code_2025', 'age_band', 'sex'], 'residents', 'population') }}
