"""Generate dbt source definitions (dbt_project/models/staging/<sector>/_<sector>__sources.yml) from the
source contracts: tables, columns, descriptions, classification, and tests for keys and required
columns. `lakehouse contracts dbt-sources` writes them; a test fails when they are out of date."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import yaml

from data_contracts.registry import SourceTable, source_tables

DBT_STAGING = Path(__file__).resolve().parents[1] / "dbt_project" / "models" / "staging"
HEADER = "# Generated from data_contracts/sources/{sector}/ by `bin/lakehouse contracts dbt-sources`. Do not edit.\n"


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


def render() -> dict[str, str]:
    """sector -> YAML text of its sources file."""
    by_sector: dict[str, list[SourceTable]] = defaultdict(list)
    for t in source_tables():
        by_sector[t.sector].append(t)
    out = {}
    for sector, tables in sorted(by_sector.items()):
        doc = {
            "version": 2,
            "sources": [
                {
                    "name": f"bronze_{sector}",
                    "description": f"Bronze Delta tables of the {sector} sector (raw values + audit columns).",
                    "meta": {
                        "external_location": f"delta_scan('{{{{ env_var('LAKE_ROOT') }}}}/bronze/{sector}/{{name}}')"
                    },
                    "tables": [_table(t) for t in sorted(tables, key=lambda t: t.table)],
                }
            ],
        }
        out[sector] = HEADER.format(sector=sector) + yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)
    return out


def path_for(sector: str) -> Path:
    return DBT_STAGING / sector / f"_{sector}__sources.yml"


def stale() -> list[Path]:
    """Sources files that differ from what the contracts say."""
    return [path_for(s) for s, text in render().items() if not path_for(s).exists() or path_for(s).read_text() != text]


def write() -> list[Path]:
    written = []
    for sector, text in render().items():
        path = path_for(sector)
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written
