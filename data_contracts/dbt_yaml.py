"""Generate the dbt YAML the contracts imply, so no schema is restated by hand:

- sources (dbt_project/models/staging/<sector>/_<sector>__sources.yml): tables, columns, descriptions,
  classification, tests for keys and required columns;
- open datasets (dbt_project/models/marts/_open_datasets__models.yml): one entry per dataset contract's
  dbt model, with an ENFORCED dbt model contract (column names and types) and the disclosure tests
  (no_direct_identifiers; no_small_cells at the contract's minimum, or k_anonymity at its k).

`bin/lakehouse contracts dbt-yaml` writes them; a test (and CI) fails when they are out of date."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import yaml

from data_contracts import Dataset, SourceTable, datasets, source_tables
from lakehouse.core import lake

DBT_MODELS = Path(__file__).resolve().parents[1] / "dbt_project" / "models"
DBT_STAGING = DBT_MODELS / "staging"
DATASETS_YAML = DBT_MODELS / "marts" / "_open_datasets__models.yml"
HEADER = "# Generated from data_contracts/{what} by `bin/lakehouse contracts dbt-yaml`. Do not edit.\n"
DBT_TYPES = {"string": "varchar", "integer": "bigint", "boolean": "boolean", "number": "double", "date": "date"}


def _table(t: SourceTable) -> dict:
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
        "description": f"Contract {t.contract_id} ({t.contract_path.relative_to(t.contract_path.parents[3])}).",
        "meta": {"ingestion_mode": t.policy.mode, "owner": t.owner or "", "freshness": t.freshness or ""},
        "columns": columns,
    }


def _dataset_model(d: Dataset) -> dict:
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
        "config": {"contract": {"enforced": True}},
        "data_tests": ["no_direct_identifiers", disclosure],
        "columns": columns,
    }


def render() -> dict[Path, str]:
    """Generated file -> its YAML text."""
    by_sector: dict[str, list[SourceTable]] = defaultdict(list)
    for t in source_tables():
        by_sector[t.sector].append(t)
    out: dict[Path, str] = {}
    for sector, tables in sorted(by_sector.items()):
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
                    "tables": [_table(t) for t in sorted(tables, key=lambda t: t.table)],
                }
            ],
        }
        out[DBT_STAGING / sector / f"_{sector}__sources.yml"] = HEADER.format(
            what=f"sources/{sector}/"
        ) + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)
    models = {"version": 2, "models": [_dataset_model(d) for d in sorted(datasets(), key=lambda d: d.dbt_model)]}
    out[DATASETS_YAML] = HEADER.format(what="datasets/") + yaml.safe_dump(
        models, sort_keys=False, allow_unicode=True, width=120
    )
    return out


def stale() -> list[Path]:
    """Generated files that differ from what the contracts say."""
    return [path for path, text in render().items() if not path.exists() or path.read_text() != text]


def write() -> list[Path]:
    written = []
    for path, text in render().items():
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written
