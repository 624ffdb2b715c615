"""A release's CSV in CKAN's DataStore (PostgreSQL): the data API (`datastore_search`,
`datastore_search_sql`), the table preview and the chart on the dataset page.

Loaded by the publisher itself, not by xloader: the columns are typed from the release's
datapackage.json (xloader guesses types from the text, and loads after the resource exists, in a job
queue), and the load happens on the staged resource before the flip, so a new release's table is whole
before anyone can see it and the previous release's stays until then (the flip removes it with its
resource). Only released versions are loaded: nothing reaches the DataStore that has not passed the
disclosure gate."""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import json
from pathlib import Path
from typing import Any

import ckanapi
import pyarrow as pa

from data_contracts import Dataset

# Frictionless field types -> DataStore (PostgreSQL) column types
TYPES = {
    "integer": "int8",
    "number": "numeric",
    "boolean": "bool",
    "date": "date",
    "datetime": "timestamp",
    "year": "int4",
    "string": "text",
}
CHUNK_ROWS = 50_000  # records per request: the first creates the table, the rest are inserted
TABLE_VIEW = "datatables_view"
CHART_VIEW = "charts_view"


def fields(package_path: Path) -> list[dict[str, Any]]:
    """DataStore fields of the data package's CSV: name, type, and the description in both languages."""
    descriptor = json.loads(package_path.read_text(encoding="utf-8"))
    schema = descriptor["resources"][0]["schema"]
    return [
        {
            "id": f["name"],
            "type": TYPES.get(f.get("type", "string"), "text"),
            # the resource page's data dictionary: English and Vietnamese (CKAN keeps one text per field)
            "info": {
                "label": f.get("title", f["name"]),
                "notes": "\n\n".join(x for x in (f.get("description"), f.get("description_vi")) if x),
            },
        }
        for f in schema["fields"]
    ]


def _json(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    return value


def records(table: pa.Table, offset: int = 0, length: int = CHUNK_ROWS) -> list[dict[str, Any]]:
    return [{k: _json(v) for k, v in row.items()} for row in table.slice(offset, length).to_pylist()]


def load(portal: Any, resource_id: str, package_path: Path, table: pa.Table) -> int:
    """Create the resource's DataStore table, typed, with every row; the rows loaded."""
    portal.call(
        "datastore_create",
        resource_id=resource_id,
        force=True,  # the publisher owns the resource (uploaded file, no xloader)
        fields=fields(package_path),
        records=records(table),
        calculate_record_count=True,
    )
    for offset in range(CHUNK_ROWS, table.num_rows, CHUNK_ROWS):
        portal.call(
            "datastore_upsert", resource_id=resource_id, method="insert", force=True, records=records(table, offset)
        )
    return table.num_rows


def drop(portal: Any, resource_id: str) -> None:
    """Remove a replaced release's table. The flip left its resource deleted, but a resource removed by
    `package_patch` keeps its DataStore table (CKAN drops tables only in `resource_delete`, for every
    deleted resource of the dataset), which `datastore_delete` then refuses: the resource is gone."""
    with contextlib.suppress(ckanapi.NotFound):
        portal.call("resource_delete", id=resource_id)


def chart(dataset: Dataset) -> dict[str, Any] | None:
    """A bar chart of the dataset's count by its first geographic dimension (by province), or None for
    datasets without one (microdata carries no geography)."""
    if dataset.kind != "aggregate" or not dataset.count_column:
        return None
    names = [c.name for c in dataset.columns]
    place = next((n for n in names if n.startswith("province_name")), None)
    place = place or next((d for d in dataset.dimensions if "province" in d), None)
    if place is None:
        return None
    return {
        "view_type": CHART_VIEW,
        "title": f"{dataset.count_column.replace('_', ' ').capitalize()} by {place.replace('_', ' ')}",
        "engine": "plotly",
        "type": "Bar",
        "x": place,
        "y": dataset.count_column,
        "skip_null_values": True,  # suppressed cells are empty, not zero
    }


def views(portal: Any, resource: dict[str, Any], dataset: Dataset) -> list[str]:
    """The resource's table preview and chart (created once; kept across releases of the resource)."""
    existing = {v["view_type"] for v in portal.call("resource_view_list", id=resource["id"])}
    made = []
    if TABLE_VIEW not in existing:
        portal.call("resource_view_create", resource_id=resource["id"], view_type=TABLE_VIEW, title="Table")
        made.append(TABLE_VIEW)
    spec = chart(dataset)
    if spec is not None and CHART_VIEW not in existing:
        portal.call("resource_view_create", resource_id=resource["id"], **spec)
        made.append(CHART_VIEW)
    return made
