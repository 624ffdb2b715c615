-- Gold (cross-sector): health-insurance coverage of enrolled pupils by 2025 province of the school.
{{ config(materialized='delta', location='gold/pupils_by_province_insurance') }}

{{ open_aggregate('cross_sector__pupils_by_province_insurance__cells', ['province_code_2025', 'insurance_status'], 'pupils', 'pupils') }}
