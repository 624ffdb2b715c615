"""Frictionless Data Package (datapackage.json) for a dataset's CSV, built from its contract and
validated with the `frictionless` library (schema, types, constraints, primary key and hash) before
anything is published."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import frictionless

from data_contracts import Dataset
from lakehouse.core.errors import PermanentError

# CKAN licence id -> Data Package licence (SPDX id, URL, title).
LICENCES = {
    "cc-by": ("CC-BY-4.0", "https://creativecommons.org/licenses/by/4.0/", "Creative Commons Attribution 4.0"),
    "cc-by-sa": ("CC-BY-SA-4.0", "https://creativecommons.org/licenses/by-sa/4.0/", "Creative Commons BY-SA 4.0"),
    "cc-zero": ("CC0-1.0", "https://creativecommons.org/publicdomain/zero/1.0/", "CC0 1.0"),
    "odc-by": ("ODC-By-1.0", "https://opendatacommons.org/licenses/by/1-0/", "Open Data Commons Attribution"),
}
# Contract logical type -> Table Schema type.
FIELD_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "double": "number",
    "boolean": "boolean",
    "date": "date",
    "timestamp": "datetime",
}


class DataPackageError(PermanentError):
    """The generated datapackage.json does not validate; nothing is published."""


def _field(column: Any) -> dict[str, Any]:
    field: dict[str, Any] = {
        "name": column.name,
        "type": FIELD_TYPES.get(column.logical_type or "string", "string"),
        "description": column.description or "",
    }
    if column.description_vi:
        field["description_vi"] = column.description_vi
    if column.unit:
        field["unit"] = column.unit
    constraints: dict[str, Any] = {}
    if column.required:
        constraints["required"] = True
    if column.allowed_values:
        constraints["enum"] = list(column.allowed_values)
    if constraints:
        field["constraints"] = constraints
    return field


def descriptor(
    dataset: Dataset, csv_path: Path, csv_sha256: str, facts: dict[str, Any], homepage: str
) -> dict[str, Any]:
    schema: dict[str, Any] = {"fields": [_field(c) for c in dataset.columns], "missingValues": [""]}
    if dataset.kind == "aggregate":
        schema["primaryKey"] = list(dataset.dimensions)  # one row per cell
    spdx, path, title = LICENCES.get(dataset.license_id, (dataset.license_id, "", dataset.license_id))
    return {
        "name": dataset.name.replace("_", "-"),
        "title": dataset.title,
        "description": dataset.description,
        "version": f"{facts.get('gold_delta_version')}.0.0",  # semver form of the gold Delta version
        "homepage": homepage,
        "created": facts.get("gold_committed_at"),
        "keywords": list(dataset.tags),
        "licenses": [{"name": spdx, "path": path, "title": title}] if path else [{"name": spdx, "title": title}],
        "contributors": [{"title": dataset.contact_name, "email": dataset.contact_email, "role": "maintainer"}],
        "resources": [
            {
                "name": dataset.name.replace("_", "-"),
                "path": csv_path.name,
                "profile": "tabular-data-resource",
                "format": "csv",
                "mediatype": "text/csv",
                "encoding": "utf-8",
                "bytes": csv_path.stat().st_size,
                "hash": f"sha256:{csv_sha256}",
                "dialect": {"delimiter": ",", "lineTerminator": "\r\n", "header": True},
                "schema": schema,
            }
        ],
    }


def validate(path: Path) -> None:
    """Validate the descriptor and the data it describes; raise naming the dataset and the errors."""
    report = frictionless.validate(str(path))
    if not report.valid:
        errors = [f"{e.type}: {e.message}" for task in report.tasks for e in task.errors][:10]
        errors += [f"{e.type}: {e.message}" for e in report.errors][:10]
        raise DataPackageError(f"{path} does not validate (frictionless): " + "; ".join(errors))


VALIDATED = ".validated"  # the digest of the last descriptor + data that validated, beside them


def write(
    dataset: Dataset, csv_path: Path, csv_sha256: str, facts: dict[str, Any], homepage: str, out_dir: Path
) -> Path:
    """Write and validate the descriptor. Validation reads every row; identical bytes (the descriptor
    holds the CSV's SHA-256) validated before are not read again: a republish of unchanged data."""
    path = out_dir / "datapackage.json"
    text = json.dumps(descriptor(dataset, csv_path, csv_sha256, facts, homepage), indent=2, ensure_ascii=False) + "\n"
    path.write_text(text)
    digest = hashlib.sha256(text.encode()).hexdigest()
    marker = out_dir / VALIDATED
    if not (marker.exists() and marker.read_text() == digest):
        marker.unlink(missing_ok=True)
        validate(path)
        marker.write_text(digest)
    return path
