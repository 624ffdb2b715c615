{{ config(materialized='delta', location='gold/_disclosure/insured_persons_by_province_group') }}
{{ disclosure_summary('insured_persons_by_province_group', 'health__insured_persons_by_province_group__cells', 'insured_persons') }}
