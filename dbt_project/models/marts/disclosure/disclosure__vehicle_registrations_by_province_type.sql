{{ config(materialized='delta', location='gold/_disclosure/vehicle_registrations_by_province_type') }}
{{ disclosure_summary('vehicle_registrations_by_province_type', 'transport__vehicle_registrations_by_province_type__cells', 'registrations',
                      persons_column='owners', largest_column='largest_owner_vehicles') }}
