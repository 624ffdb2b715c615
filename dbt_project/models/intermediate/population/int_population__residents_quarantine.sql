-- Rejected registry rows with their reason. Raw personal data: quarantine is permissioned like bronze.
{{ config(materialized='delta', location=lake_location(this)) }}

select * exclude (province_code_2025)
from {{ ref('int_population__citizen_checked') }}
where reject_reason is not null
