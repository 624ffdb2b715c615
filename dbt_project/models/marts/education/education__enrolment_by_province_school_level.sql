-- Gold: pupils by 2025 province of the school x school year x school level; small cells withheld with
-- complementary suppression (see __cells). Columns as its dataset contract.
{{ config(materialized='delta', location='gold/enrolment_by_province_school_level') }}

{{ open_aggregate('education__enrolment_by_province_school_level__cells', ['province_code_2025', 'school_year', 'school_level'], 'pupils', 'pupils') }}
