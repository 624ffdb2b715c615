-- Gold: registered vehicles by 2025 province of registration x vehicle type (see __cells).
{{ config(materialized='delta', location='gold/vehicle_registrations_by_province_type') }}

{{ open_aggregate('transport__vehicle_registrations_by_province_type__cells', ['province_code_2025', 'vehicle_type'], 'registrations', 'registrations') }}
