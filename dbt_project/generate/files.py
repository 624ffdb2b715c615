"""What every generator shares: where the dbt project is, generated-file headers, dbt types, YAML text."""

from __future__ import annotations

from pathlib import Path

import yaml

DBT_PROJECT = Path(__file__).resolve().parents[1]
GENERATED = "generated"  # under models/ and macros/
HEADER = "# Generated from {what} by dbt_project/generate (before every dbt command). Do not edit.\n"
SQL_HEADER = "-- Generated from {what} by dbt_project/generate (before every dbt command). Do not edit.\n"
DBT_TYPES = {"string": "varchar", "integer": "bigint", "boolean": "boolean", "number": "double", "date": "date"}
PERSON = "person_pseudonym"


def yaml_text(doc: dict) -> str:
    return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, width=120)


def rel(path: Path) -> str:
    for parent in path.parents:
        if parent.name in ("sources", "datasets"):
            return str(path.relative_to(parent.parent))
    return path.name
