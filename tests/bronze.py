"""Hand-made bronze tables for tests that start after ingestion: the schema ingestion writes for a
contract (its columns, the audit columns, `_tombstone` for a change log)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from deltalake import write_deltalake

from data_contracts import SourceTable

ARROW = {
    "bigint": pa.int64(),
    "smallint": pa.int16(),
    "date": pa.date32(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "datetime": pa.timestamp("us", tz="UTC"),
}


def bronze_schema(table: SourceTable) -> pa.Schema:
    cols = [(c.name, ARROW.get(c.physical_type or "", pa.string())) for c in table.columns]
    audit = [("_batch_id", pa.string()), ("_ingested_at", pa.timestamp("us", tz="UTC"))]
    change_log = [("_tombstone", pa.bool_())] if table.policy.mode == "incremental" else []
    return pa.schema(cols + audit + change_log)


def write_bronze(lake_root: Path, table: SourceTable, rows: list[dict]) -> None:
    """A one-batch bronze table of `rows` (audit columns as given; no tombstones)."""
    schema = bronze_schema(table)
    if "_tombstone" in schema.names:
        rows = [{"_tombstone": False, **r} for r in rows]
    write_deltalake(str(table.bronze_path(lake_root)), pa.Table.from_pylist(rows, schema=schema))
