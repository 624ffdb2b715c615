-- Fails (returns rows) if a silver or gold model exposes a direct identifier column.
select table_name, column_name
from information_schema.columns
where table_name in ('int_population__residents', 'population__by_province_age_sex')
  and column_name in ('citizen_id', 'full_name', 'date_of_birth', 'phone', 'address_line', 'card_no', 'licence_no')
