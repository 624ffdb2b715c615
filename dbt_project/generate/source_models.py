"""dbt sources of every source contract, and staging and silver models of the tagged ones
(person key, administrative units, code lists, compiled quality rules)."""

from __future__ import annotations

from data_contracts import Column, ContractError, SourceTable
from data_contracts.quality import reject_reason
from dbt_project.generate.files import DBT_PROJECT, HEADER, PERSON, SQL_HEADER, rel, yaml_text
from lakehouse.core import changelog, lake

# --- sources -------------------------------------------------------------------------------------


def _source_table(t: SourceTable) -> dict:
    columns = []
    for c in t.columns:
        col: dict = {"name": c.name, "description": c.description or "", "meta": {"classification": c.classification}}
        if c.description_vi:
            col["meta"]["description_vi"] = c.description_vi
        tests = (["not_null", "unique"] if c.primary_key and len(t.primary_key) == 1 else []) + (
            ["not_null"] if c.required and not c.primary_key else []
        )
        if tests:
            col["data_tests"] = tests
        columns.append(col)
    meta = {"ingestion_mode": t.policy.mode, "owner": t.owner or "", "freshness": t.freshness or ""}
    if t.policy.mode == "incremental":  # bronze is a change log: the source is its current state
        meta["external_location"] = changelog.current_sql(_delta_scan(t.table, t.sector), t.primary_key)
    return {
        "name": t.table,
        "description": f"Contract {t.contract_id} ({rel(t.contract_path)}).",
        "meta": meta,
        "columns": columns,
    }


def _delta_scan(name: str, sector: str) -> str:
    return "delta_scan('{{ env_var('LAKE_ROOT') }}/" + lake.relative("bronze", sector, name) + "')"


def sources(sector: str, tables: list[SourceTable]) -> str:
    doc = {
        "version": 2,
        "sources": [
            {
                "name": f"bronze_{sector}",
                "description": f"Bronze Delta tables of the {sector} sector (raw values + audit columns).",
                "meta": {"external_location": _delta_scan("{name}", sector)},
                "tables": [_source_table(t) for t in sorted(tables, key=lambda t: t.table)],
            }
        ],
    }
    return HEADER.format(what=f"the {sector} source contracts") + yaml_text(doc)


# --- staging and silver from semantic tags ------------------------------------------------------


def silver_model(t: SourceTable) -> str:
    return f"int_{t.sector}__{t.silver_entity}"


def staging_sql(t: SourceTable) -> str:
    order = t.watermark_column or "_ingested_at"
    key = ", ".join(t.primary_key)
    columns = ",\n".join(f"        {c.name}" for c in t.columns)
    return (
        SQL_HEADER.format(what=rel(t.contract_path))
        + f"""with source as (
    select * from {{{{ source('bronze_{t.sector}', '{t.table}') }}}}
),

renamed as (
    select
{columns},
        _batch_id as batch_id,
        _ingested_at as ingested_at
    from source
    qualify row_number() over (partition by {key} order by {order} desc) = 1
)

select * from renamed
"""
    )


def _admin_unit(c: Column) -> tuple[list[str], list[str], str]:
    """Select items, joins and the unmatched condition mapping column `c` to the 2025 units."""
    src = f"checked.{c.name}"
    if c.admin_unit == "ward" and c.code_system == "legacy":
        joins = [f"left join {{{{ ref('ward_crosswalk_2025') }}}} as wards on {src} = wards.legacy_ward_code"]
        items = [
            "wards.province_code_2025",
            "wards.ward_code_2025",
            "coalesce(wards.mapping, 'unmatched') as ward_mapping",  # one_to_one / split / unmatched
        ]
        return items, joins, "wards.ward_code_2025 is null"
    if c.admin_unit == "ward":  # 2025 codes: checked against the 2025 wards
        joins = [
            "left join (select distinct province_code_2025, ward_code_2025 "
            f"from {{{{ ref('ward_crosswalk_2025') }}}} where ward_code_2025 is not null) as wards "
            f"on {src} = wards.ward_code_2025"
        ]
        return ["wards.province_code_2025", "wards.ward_code_2025"], joins, "wards.ward_code_2025 is null"
    if c.admin_unit == "district":  # legacy only: the 2025 units have no districts
        joins = [
            "left join (select distinct district_code, province_code "
            f"from {{{{ ref('legacy_wards') }}}}) as districts on {src} = districts.district_code",
            "left join {{ ref('province_crosswalk_2025') }} as provinces "
            "on districts.province_code = provinces.legacy_province_code",
        ]
        return ["provinces.province_code_2025"], joins, "provinces.province_code_2025 is null"
    if c.code_system == "legacy":
        joins = [
            f"left join {{{{ ref('province_crosswalk_2025') }}}} as provinces on {src} = provinces.legacy_province_code"
        ]
        return ["provinces.province_code_2025"], joins, "provinces.province_code_2025 is null"
    joins = [f"left join {{{{ ref('provinces_2025') }}}} as provinces on {src} = provinces.province_code_2025"]
    return ["provinces.province_code_2025"], joins, "provinces.province_code_2025 is null"


def _code_list_columns(name: str) -> list[str]:
    path = DBT_PROJECT / "seeds" / "code_lists" / f"{name}.csv"
    if not path.exists():
        raise ContractError(f"codeList {name!r}: no seed {path} -> fix: add the code list or name an existing one")
    return path.read_text(encoding="utf-8").splitlines()[0].split(",")


def silver_sql(t: SourceTable) -> str:
    if t.person_key is None:
        raise ContractError(
            f"{t.contract_path}: silverEntity needs a column tagged personKey -> fix: tag the person ID"
        )
    items = [f"{{{{ pseudonym('checked.{t.person_key.name}') }}}} as {PERSON}"]
    joins: list[str] = []
    for c in t.columns:
        if c.classification == "direct-identifier":
            continue  # the person key survives only as its pseudonym; names, phones, plates, addresses never
        if c.admin_unit:
            mapped, unit_joins, unmatched = _admin_unit(c)
            # the source's own code stays beside the 2025 one (unless it is already the 2025 column)
            items += [f"checked.{c.name}"] if c.name not in {m.split(".")[-1] for m in mapped} else []
            items += mapped
            items.append(f"{unmatched} as {c.admin_unit}_unmatched")
            joins += unit_joins
        elif c.code_list:
            key = c.code_list_key or c.name
            alias = f"{c.name}_codes"
            items.append(f"checked.{c.name}")
            labels = [h for h in _code_list_columns(c.code_list) if h.startswith("label_")]
            items += [f"{alias}.{h} as {c.name}_{h}" for h in labels]
            items.append(f"checked.{c.name} is not null and {alias}.{key} is null as {c.name}_unknown")
            joins.append(f"left join {{{{ ref('{c.code_list}') }}}} as {alias} on checked.{c.name} = {alias}.{key}")
        else:
            items.append(f"checked.{c.name}")
    items.append("checked.batch_id")
    select = ",\n    ".join(items)
    return (
        SQL_HEADER.format(what=rel(t.contract_path))
        + f"""-- Silver: {t.qualified_name} pseudonymised, direct identifiers dropped, units mapped to 2025.
{{{{ config(materialized='delta', location='{lake.relative("silver", t.sector, t.silver_entity or "")}') }}}}

with checked as (
    -- rows failing the contract's quality rules were quarantined at ingestion; never let one through
    select * from {{{{ ref('stg_{t.sector}__{t.table}') }}}}
    where {{{{ contract_quality_{t.sector}__{t.table}() }}}} is null
        and {t.person_key.name} is not null
)

select
    {select}
from checked
{chr(10).join(joins)}
"""
    )


def silver_yaml(t: SourceTable) -> dict:
    return {
        "name": silver_model(t),
        "description": f"Silver {t.qualified_name}, generated from its contract: pseudonymised, 2025 units.",
        "data_tests": ["no_direct_identifiers"],
        "columns": [{"name": PERSON, "data_tests": ["not_null"]}],
    }


def quality_macro(t: SourceTable) -> str:
    # Columns stay renameable where the check runs: `columns` maps a contract column to the model's name.
    tokens = {c.name: f"__lakehouse_column_{c.name}__" for c in t.columns}
    case = reject_reason(t.quality, "duckdb", tokens, current_date="{{ reference_date() }}")
    for name, token in tokens.items():
        case = case.replace(token, f"{{{{ columns.get('{name}', '{name}') }}}}")
    return (
        f"{{# The first quality rule of {t.qualified_name} a row fails (NULL: none), compiled from its contract;\n"
        f"   `columns`: contract column -> name in the model checked (staging renames). #}}\n"
        f"{{% macro contract_quality_{t.sector}__{t.table}(columns={{}}) -%}}\n{case}\n{{%- endmacro %}}\n"
    )
