-- Internal: vehicle registrations by 2025 province of registration x vehicle type.
with registrations as (
    select * from {{ ref('int_transport__vehicle_registrations') }}
    where not province_unmatched
),

counted as (
    select province_code_2025, vehicle_type, count(*) as registrations
    from registrations
    group by all
),

{{ suppress_cells('counted', ['province_code_2025', 'vehicle_type'], 'registrations', var('min_cell_count')) }}

select * from suppressed_cells
