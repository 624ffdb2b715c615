{{ config(materialized='delta', location='gold/_disclosure/pupils_by_province_insurance') }}
{{ disclosure_summary('pupils_by_province_insurance', 'cross_sector__pupils_by_province_insurance__cells', 'pupils') }}
