{{ config(materialized='delta', location='gold/_disclosure/enrolment_by_province_school_level') }}
{{ disclosure_summary('enrolment_by_province_school_level', 'education__enrolment_by_province_school_level__cells', 'pupils') }}
