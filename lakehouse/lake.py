"""Reading Delta tables of the lake into Arrow (the one read path outside Spark and dbt)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import DeltaTable


def read_table(path: Path, version: int | None = None) -> tuple[pa.Table, int]:
    """The table's rows and the Delta version read.

    Reads the version's files with pyarrow: DeltaTable.to_pyarrow_table() aborted the process at exit
    in ~10% of runs here (FINDINGS). Partition columns are not used in gold/bronze yet.
    """
    if not DeltaTable.is_deltatable(str(path)):
        raise FileNotFoundError(f"no Delta table at {path}")
    dt = DeltaTable(str(path), version=version)
    schema = dt.schema().to_arrow()
    files = dt.file_uris()
    if not files:
        return pa.Table.from_batches([], schema=pa.schema(schema)), dt.version()
    partition_columns = list(dt.metadata().partition_columns)
    values: dict[str, dict[str, Any]] = {}
    if partition_columns:
        actions = pa.table(dt.get_add_actions(flatten=True))
        for row in actions.to_pylist():
            # the log keeps paths URL-encoded, file_uris() gives them decoded
            values[unquote(row["path"])] = {c: row.get(f"partition.{c}") for c in partition_columns}
    parts = []
    for uri in files:
        part = _normalise(pq.read_table(uri.removeprefix("file://")))
        # Partition values live in the Delta log, not in the files (FINDINGS): add them back.
        relative = uri.removeprefix("file://").removeprefix(str(path.resolve())).lstrip("/")
        for column, value in values.get(relative, {}).items():
            part = part.append_column(column, pa.array([value] * part.num_rows, pa.string()))
        parts.append(part)
    # Files of one table differ in nullability and string layout (Spark vs delta-rs writers) and, after
    # additive schema evolution, in columns: promote to one schema, older files get NULLs.
    table = pa.concat_tables(parts, promote_options="permissive")
    order = [f.name for f in pa.schema(schema)]
    return table.select([c for c in order if c in table.column_names]), dt.version()


def _normalise(table: pa.Table) -> pa.Table:
    fields = [
        pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) or pa.types.is_large_string(f.type) else f.type)
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def history(path: Path, limit: int = 20) -> list[dict[str, Any]]:
    """Newest first: version, timestamp, operation, batch id, rows added/removed."""
    dt = DeltaTable(str(path))
    out = []
    for entry in dt.history(limit):
        metrics = entry.get("operationMetrics", {})
        out.append(
            {
                "version": entry.get("version"),
                "at": datetime.fromtimestamp(entry["timestamp"] / 1000, UTC).isoformat(timespec="seconds"),
                "operation": entry.get("operation"),
                "batch_id": entry.get("batch_id", ""),
                "added": metrics.get("num_added_rows", metrics.get("num_target_rows_inserted", "")),
                "removed": metrics.get("num_removed_files", metrics.get("num_target_rows_deleted", "")),
            }
        )
    return out


def compact(path: Path) -> dict[str, Any]:
    """Rewrite small files into larger ones (one new version; data unchanged)."""
    return DeltaTable(str(path)).optimize.compact()


def vacuum(path: Path, retention_hours: int = 168, dry_run: bool = True) -> list[str]:
    """Files no version within the retention needs; deleted unless `dry_run`. Time travel to versions
    older than the retention stops working for the files removed."""
    return DeltaTable(str(path)).vacuum(
        retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False
    )
