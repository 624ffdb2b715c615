-- Internal: vehicle registrations by 2025 province of registration x vehicle type. The threshold protects
-- owners, not vehicles: a cell is unsafe with fewer distinct owners than the minimum count, or when one
-- owner holds more than the contract's dominance share of its vehicles (one owner with 12 buses).
with registrations as (
    select * from {{ ref('int_transport__vehicle_registrations') }}
    where not province_unmatched
),

per_owner as (
    select province_code_2025, vehicle_type, person_pseudonym, count(*) as vehicles
    from registrations
    group by all
),

counted as (
    select
        province_code_2025,
        vehicle_type,
        sum(vehicles)::bigint as registrations,
        count(*) as owners,
        max(vehicles) as largest_owner_vehicles
    from per_owner
    group by all
),

{{ suppress_cells('counted', ['province_code_2025', 'vehicle_type'], 'registrations', var('min_cell_count'),
                  unsafe='owners < ' ~ var('min_cell_count') ~ ' or largest_owner_vehicles > '
                         ~ var('vehicle_dominance_share') ~ ' * registrations',
                  release_of='vehicle_registrations_by_province_type', published_as='registrations') }}

select * from suppressed_cells
