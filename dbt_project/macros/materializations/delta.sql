{#-
  materialized='delta': the model is written to a Delta table at LAKE_ROOT/<location> by the
  lakehouse_delta plugin (deltalake, overwrite: each run adds a Delta version; a failure keeps the
  last one), and the dbt relation becomes a view over delta_scan() of that table, so downstream
  models and tests read exactly what was committed. `location` is never spelled by a model: generated
  models and the datasets' YAML get it from lakehouse.core.lake (dbt_project/generate/), hand-written
  ones ask `lake_location(this)`.
-#}
{% materialization delta, adapter='duckdb' %}
  {%- if not config.get('location') -%}
    {{ exceptions.raise_compiler_error("no lake location for " ~ this.identifier ~ ": name a hand-written silver model int_<sector>__<entity> (quarantine: int_<sector>__<entity>_quarantine) and configure location=lake_location(this), or make it a dataset contract's dbtModel") }}
  {%- endif -%}
  {%- set location = env_var('LAKE_ROOT') ~ '/' ~ config.get('location') -%}
  {%- set target_relation = this.incorporate(type='view') -%}
  {%- set staging_relation = make_temp_relation(this, '__delta_src').incorporate(type='view') -%}

  {{ run_hooks(pre_hooks, inside_transaction=False) }}
  {{ run_hooks(pre_hooks, inside_transaction=True) }}

  {#- An enforced dbt model contract (generated from the dataset contract) must match before anything
      is written: names and types of the model's columns. -#}
  {%- set contract_config = config.get('contract') -%}
  {%- if contract_config and contract_config.enforced -%}
    {{ get_assert_columns_equivalent(sql) }}
  {%- endif -%}

  {% do adapter.drop_relation(staging_relation) %}
  {% call statement('main') -%}
    {{ create_view_as(staging_relation, sql) }}
  {%- endcall %}
  {% do adapter.commit() %}

  {% do store_relation('lakehouse_delta', staging_relation, location, 'delta', config) %}

  {% set existing = adapter.get_relation(database=this.database, schema=this.schema, identifier=this.identifier) %}
  {% if existing is not none %}{% do adapter.drop_relation(existing) %}{% endif %}
  {% call statement('delta_view') -%}
    create view {{ target_relation }} as select * from delta_scan('{{ location }}')
  {%- endcall %}
  {% do adapter.drop_relation(staging_relation) %}

  {{ run_hooks(post_hooks, inside_transaction=True) }}
  {% do adapter.commit() %}
  {{ run_hooks(post_hooks, inside_transaction=False) }}
  {{ return({'relations': [target_relation]}) }}
{% endmaterialization %}
