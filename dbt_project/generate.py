"""Generate the dbt files the contracts imply, so nothing a contract says is restated by hand.

Written under models/generated/ and macros/generated/ (gitignored), before every dbt command
(runner.py), for the contracts of every folder in LAKEHOUSE_CONTRACTS_DIRS too:

- sources: `generated/staging/<sector>/_<sector>__sources.yml` (tables, columns, classification, key tests);
- tagged source tables (`silverEntity`): staging `stg_<sector>__<table>` (typed as in bronze, deduplicated on
  the key) and silver `int_<sector>__<entity>` (person key -> person_pseudonym, other direct identifiers
  dropped, administrative unit -> 2025 units with an `_unmatched` flag, code-list labels, rows failing the
  contract's quality rules left out);
- open datasets: the enforced dbt model contract and tests of the gold model; the gold model itself unless a
  hand-written one exists (models/**/<dbtModel>.sql); the cells model of an aggregate with a `source`; the
  disclosure summary `disclosure__<dataset>` of every dataset;
- macros: `contract_quality_<sector>__<table>(columns)` (the first failed rule's reason, compiled from the
  contract by data_contracts/quality.py) and `lake_locations()` (where each Delta model is written, from
  lakehouse.core.lake, the one definition of the lake layout).

Hand-written Delta models state only `materialized='delta'`; their location follows from their name:
`int_<sector>__<entity>` -> silver/<sector>/<entity>, `int_<sector>__<entity>_quarantine` ->
quarantine/<sector>/<entity>, a dataset's dbtModel -> gold/<dataset>."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import yaml

from data_contracts import Column, ContractError, Dataset, SourceTable, datasets, source_tables
from data_contracts.quality import reject_reason
from lakehouse.core import lake

DBT_PROJECT = Path(__file__).resolve().parent
GENERATED = "generated"  # under models/ and macros/
HEADER = "# Generated from {what} by dbt_project/generate.py (before every dbt command). Do not edit.\n"
SQL_HEADER = "-- Generated from {what} by dbt_project/generate.py (before every dbt command). Do not edit.\n"
DBT_TYPES = {"string": "varchar", "integer": "bigint", "boolean": "boolean", "number": "double", "date": "date"}
PERSON = "person_pseudonym"


def _yaml(doc: dict) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def _rel(path: Path) -> str:
    for parent in path.parents:
        if parent.name in ("sources", "datasets"):
            return str(path.relative_to(parent.parent))
    return path.name


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
    return {
        "name": t.table,
        "description": f"Contract {t.contract_id} ({_rel(t.contract_path)}).",
        "meta": {"ingestion_mode": t.policy.mode, "owner": t.owner or "", "freshness": t.freshness or ""},
        "columns": columns,
    }


def _sources(sector: str, tables: list[SourceTable]) -> str:
    doc = {
        "version": 2,
        "sources": [
            {
                "name": f"bronze_{sector}",
                "description": f"Bronze Delta tables of the {sector} sector (raw values + audit columns).",
                "meta": {
                    "external_location": "delta_scan('{{ env_var('LAKE_ROOT') }}/"
                    + lake.relative("bronze", sector, "{name}")
                    + "')"
                },
                "tables": [_source_table(t) for t in sorted(tables, key=lambda t: t.table)],
            }
        ],
    }
    return HEADER.format(what=f"the {sector} source contracts") + _yaml(doc)


# --- staging and silver from semantic tags ------------------------------------------------------


def silver_model(t: SourceTable) -> str:
    return f"int_{t.sector}__{t.silver_entity}"


def _staging_sql(t: SourceTable) -> str:
    order = t.watermark_column or "_ingested_at"
    key = ", ".join(t.primary_key)
    columns = ",\n".join(f"        {c.name}" for c in t.columns)
    return (
        SQL_HEADER.format(what=_rel(t.contract_path))
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


def _silver_sql(t: SourceTable) -> str:
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
        SQL_HEADER.format(what=_rel(t.contract_path))
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


def _silver_yaml(t: SourceTable) -> dict:
    return {
        "name": silver_model(t),
        "description": f"Silver {t.qualified_name}, generated from its contract: pseudonymised, 2025 units.",
        "data_tests": ["no_direct_identifiers"],
        "columns": [{"name": PERSON, "data_tests": ["not_null"]}],
    }


def _quality_macro(t: SourceTable) -> str:
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


# --- datasets ------------------------------------------------------------------------------------


def cells_model(d: Dataset) -> str:
    """The model holding every cell with its raw count and suppression flags (never published)."""
    return d.cells_model or f"int_{d.sector}__{d.name}_cells"


def disclosure_model(d: Dataset) -> str:
    return f"disclosure__{d.name}"


def _dataset_yaml(d: Dataset) -> dict:
    if d.kind == "microdata":
        disclosure = {"k_anonymity": {"arguments": {"quasi_identifiers": list(d.dimensions), "k": d.k_anonymity}}}
    else:
        disclosure = {"no_small_cells": {"arguments": {"count_column": d.count_column, "min_count": d.min_cell_count}}}
    columns = []
    for c in d.columns:
        col: dict = {
            "name": c.name,
            "data_type": DBT_TYPES[c.logical_type or "string"],
            "description": c.description or "",
        }
        tests: list = ["not_null"] if c.required else []
        if c.allowed_values:
            tests.append({"accepted_values": {"arguments": {"values": list(c.allowed_values)}}})
        if tests:
            col["data_tests"] = tests
        columns.append(col)
    return {
        "name": d.dbt_model,
        "description": f"Open dataset {d.name}: {d.title}. Contract {d.contract_id}.",
        "config": {"contract": {"enforced": True}, "location": lake.relative("gold", d.name)},
        "data_tests": ["no_direct_identifiers", disclosure],
        "columns": columns,
    }


def _source_model(d: Dataset) -> str:
    sector, entity = (d.source or "").split(".")
    return f"int_{sector}__{entity}"


def _cells_sql(d: Dataset) -> str:
    dims = list(d.dimensions)
    measures = [f"count(distinct {PERSON}) as {d.count_column}"]
    per_person = ""
    unsafe = ""
    if d.measure == "sum":
        published = next((c for c in d.columns if c.name == d.measure_as), None)
        if published is None:
            raise ContractError(
                f"{d.contract_path}: measure.publishedAs {d.measure_as!r} is not a column -> fix: list it"
            )
        # the enforced model contract fixes the type (DuckDB sums bigints into int128)
        measures.append(
            f"cast(sum({d.measure_column}) as {DBT_TYPES[published.logical_type or 'number']}) as {d.measure_as}"
        )
        if d.population and d.population.dominance_share:
            # p% rule: one person holding most of a cell's sum is disclosed by it
            per_person = f"""
per_person as (
    select {", ".join(dims)}, {PERSON}, sum({d.measure_column}) as person_total
    from source
    group by all
),

largest as (
    select {", ".join(dims)}, max(person_total) as largest_person_total
    from per_person
    group by all
),
"""
            unsafe = (
                f",\n                  unsafe='largest_person_total > {d.population.dominance_share} * {d.measure_as}'"
            )
    joined = (
        f"select counted.*, largest.largest_person_total from counted inner join largest using ({', '.join(dims)})"
        if per_person
        else "select * from counted"
    )
    not_null = "\n        and ".join(f"{x} is not null" for x in dims)
    return (
        SQL_HEADER.format(what=_rel(d.contract_path))
        + f"""-- Internal: every cell of {d.name} with its raw count and suppression flags. Never published.
with source as (
    select * from {{{{ ref('{_source_model(d)}') }}}}
    -- records outside the dimensions (e.g. a unit without a 2025 match) are not counted
    where {not_null}
),

counted as (
    select
        {", ".join(dims)},
        {("," + chr(10) + "        ").join(measures)}
    from source
    group by all
),
{per_person}
measured as (
    {joined}
),

{{{{ suppress_cells('measured', {dims!r}, '{d.count_column}', var('min_cell_count'){unsafe},
                  release_of='{d.name}', published_as='{d.count_column}') }}}}

select * from suppressed_cells
"""
    )


def _gold_sql(d: Dataset) -> str:
    head = (
        SQL_HEADER.format(what=_rel(d.contract_path))
        + f"-- Gold: {d.title}.\n{{{{ config(materialized='delta') }}}}\n\n"
    )
    dims = list(d.dimensions)
    if d.kind == "microdata":
        items = [
            f"row_number() over (order by {', '.join(dims)}) as {c.name}" if c.name == "record_no" else c.name
            for c in d.columns
        ]
        select = ",\n    ".join(items)
        return (
            head
            + f"""with prepared as (
    select * from {{{{ ref('{cells_model(d)}') }}}}
),

{{{{ k_anonymize('prepared', {dims!r}, '{d.suppress_first}', var('k_anonymity')) }}}}

select
    {select}
from k_anonymous
"""
        )
    standard = ["province_code_2025", "province_name_2025", *[x for x in dims if x != "province_code_2025"]]
    names = [c.name for c in d.columns]
    if names == [*standard, d.count_column, "suppressed"]:  # the common shape: the macro's own order
        return (
            head + f"{{{{ open_aggregate('{cells_model(d)}', {dims!r}, '{d.count_column}', '{d.count_column}') }}}}\n"
        )
    measures = {d.measure_as: d.measure_as} if d.measure == "sum" else {}
    return (
        head
        + f"{{{{ open_aggregate('{cells_model(d)}', {dims!r}, '{d.count_column}', '{d.count_column}',"
        + f" measures={measures!r}, columns={names!r}) }}}}\n"
    )


def _disclosure_sql(d: Dataset) -> str:
    head = (
        SQL_HEADER.format(what=_rel(d.contract_path))
        + f"-- Disclosure summary of {d.name}, read by the publisher's report (not published as data).\n"
        + f"{{{{ config(materialized='delta', location='{lake.relative('gold', '_disclosure', d.name)}') }}}}\n"
    )
    if d.kind == "microdata":
        return head + (
            f"{{{{ k_anonymity_summary('{d.name}', '{cells_model(d)}', {list(d.dimensions)!r}, "
            f"'{d.suppress_first}') }}}}\n"
        )
    extra = "".join(
        f", {arg}='{col}'"
        for arg, col in (
            ("persons_column", d.disclosure_persons_column),
            ("largest_column", d.disclosure_largest_column),
        )
        if col
    )
    return head + f"{{{{ disclosure_summary('{d.name}', '{cells_model(d)}', '{d.count_column}'{extra}) }}}}\n"


# --- where Delta models are written --------------------------------------------------------------


def _hand_written(project: Path) -> dict[str, Path]:
    models = project / "models"
    return {p.stem: p for p in models.rglob("*.sql") if GENERATED not in p.relative_to(models).parts[:1]}


DELTA = re.compile(r"materialized\s*=\s*['\"]delta['\"]")
INT_NAME = re.compile(r"^int_(?P<sector>[a-z0-9_]+?)__(?P<entity>[a-z0-9_]+)$")


def _locations(project: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, path in _hand_written(project).items():
        match = INT_NAME.match(name)
        if not match or not DELTA.search(path.read_text(encoding="utf-8")):
            continue
        sector, entity = match["sector"], match["entity"]
        if entity.endswith("_quarantine"):
            out[name] = lake.relative("quarantine", sector, entity.removesuffix("_quarantine"))
        else:
            out[name] = lake.relative("silver", sector, entity)
    return dict(sorted(out.items()))


def _locations_macro(locations: dict[str, str]) -> str:
    pairs = ",\n".join(f"    '{model}': '{where}'" for model, where in locations.items())
    return (
        "{# Where each hand-written Delta model is written, relative to LAKE_ROOT (from lakehouse.core.lake):\n"
        "   `{{ config(materialized='delta', location=lake_location(this)) }}`. #}\n"
        "{% macro lake_location(relation) -%}\n{%- set locations = {\n" + pairs + "\n} -%}\n"
        "{{ return(locations.get(relation.identifier)) }}\n{%- endmacro %}\n"
    )


# --- the whole set -------------------------------------------------------------------------------


def render(project: Path = DBT_PROJECT) -> dict[Path, str]:
    """Every generated file (absolute path) -> its text."""
    tables, dsets = source_tables(), datasets()
    models, macros = project / "models" / GENERATED, project / "macros" / GENERATED
    hand = _hand_written(project)
    out: dict[Path, str] = {}
    by_sector: dict[str, list[SourceTable]] = defaultdict(list)
    for t in tables:
        by_sector[t.sector].append(t)
    for sector, sector_tables in sorted(by_sector.items()):
        out[models / "staging" / sector / f"_{sector}__sources.yml"] = _sources(sector, sector_tables)
    quality = [_quality_macro(t) for t in sorted(tables, key=lambda t: t.qualified_name)]
    out[macros / "contract_quality.sql"] = "\n".join(quality)
    silver_docs = defaultdict(list)
    for t in tables:
        if not t.silver_entity:
            continue
        out[models / "staging" / t.sector / f"stg_{t.sector}__{t.table}.sql"] = _staging_sql(t)
        out[models / "intermediate" / t.sector / f"{silver_model(t)}.sql"] = _silver_sql(t)
        silver_docs[t.sector].append(_silver_yaml(t))
    for sector, docs in silver_docs.items():
        out[models / "intermediate" / sector / f"_{sector}__generated_models.yml"] = HEADER.format(
            what=f"the {sector} source contracts"
        ) + _yaml({"version": 2, "models": docs})
    for d in dsets:
        if d.kind == "aggregate" and d.cells_model is None:
            out[models / "intermediate" / d.sector / f"{cells_model(d)}.sql"] = _cells_sql(d)
        elif d.cells_model not in hand:
            raise ContractError(f"{d.contract_path}: no hand-written model {d.cells_model} -> fix: add it or drop it")
        if d.dbt_model not in hand:
            out[models / "marts" / d.sector / f"{d.dbt_model}.sql"] = _gold_sql(d)
        out[models / "marts" / "disclosure" / f"{disclosure_model(d)}.sql"] = _disclosure_sql(d)
    out[models / "marts" / "_open_datasets__models.yml"] = HEADER.format(what="the dataset contracts") + _yaml(
        {"version": 2, "models": [_dataset_yaml(d) for d in sorted(dsets, key=lambda d: d.dbt_model)]}
    )
    out[macros / "lake_locations.sql"] = _locations_macro(_locations(project))
    return out


def write(project: Path = DBT_PROJECT) -> list[Path]:
    """Write what changed and remove generated files no contract implies any more; the paths changed."""
    files = render(project)
    changed = []
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for root in (project / "models" / GENERATED, project / "macros" / GENERATED):
        for path in sorted(root.rglob("*"), reverse=True) if root.exists() else []:
            if path.is_file() and path not in files:
                path.unlink()
                changed.append(path)
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return changed
