"""The cells, gold and disclosure-summary models and the enforced dbt contract of every dataset
contract."""

from __future__ import annotations

from data_contracts import ContractError, Dataset
from dbt_project.generate.files import DBT_TYPES, PERSON, SQL_HEADER, rel
from lakehouse.core import lake

# --- datasets ------------------------------------------------------------------------------------


def cells_model(d: Dataset) -> str:
    """The model holding every cell with its raw count and suppression flags (never published)."""
    return d.cells_model or f"int_{d.sector}__{d.name}_cells"


def disclosure_model(d: Dataset) -> str:
    return f"disclosure__{d.name}"


def dataset_yaml(d: Dataset) -> dict:
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


def cells_sql(d: Dataset) -> str:
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
        SQL_HEADER.format(what=rel(d.contract_path))
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


def gold_sql(d: Dataset) -> str:
    head = (
        SQL_HEADER.format(what=rel(d.contract_path))
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


def disclosure_sql(d: Dataset) -> str:
    head = (
        SQL_HEADER.format(what=rel(d.contract_path))
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
