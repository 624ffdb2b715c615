"""The lake: where each zone's tables live and the one place a Delta table is opened.

Layout (relative to the lake root; every stage asks here, nothing else spells a zone path):

    bronze/<sector>/<table>          raw rows as ingested, plus audit columns
    quarantine/<sector>/<table>      rows a contract's quality rules rejected, with the reason
    silver/<sector>/<entity>         cleaned, pseudonymised, units mapped to 2025
    gold/<dataset>                   open datasets as built (a release is a gold version the gate passed)
    gold/_disclosure/<dataset>       the dataset's disclosure summary
    gold/_releases/                  the release log (lakehouse/core/releases.py)
    _governance/                     erasure requests (keyed hashes) and their audit (lakehouse/erasure.py)

Reads go through pyarrow (`read_table`); commits through lakehouse/core/commit.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

if TYPE_CHECKING:  # the layout half is imported by the Airflow side, which has no deltalake or pyarrow
    import pyarrow as pa
    from deltalake import DeltaTable


ZONES = ("bronze", "quarantine", "silver", "gold")


def relative(zone: str, *parts: str) -> str:
    """`relative("bronze", "population", "citizen")` -> "bronze/population/citizen" (dbt, assets, grants)."""
    if zone not in ZONES:
        raise ValueError(f"unknown lake zone {zone!r}; zones are {', '.join(ZONES)}")
    return "/".join((zone, *parts))


def bronze_path(lake_root: Path, sector: str, table: str) -> Path:
    return lake_root / relative("bronze", sector, table)


def quarantine_path(lake_root: Path, sector: str, table: str) -> Path:
    return lake_root / relative("quarantine", sector, table)


def silver_path(lake_root: Path, sector: str, entity: str) -> Path:
    return lake_root / relative("silver", sector, entity)


def gold_path(lake_root: Path, dataset: str) -> Path:
    return lake_root / relative("gold", dataset)


def disclosure_path(lake_root: Path, dataset: str) -> Path:
    return lake_root / relative("gold", "_disclosure", dataset)


def releases_dir(lake_root: Path) -> Path:
    return lake_root / relative("gold", "_releases")


def governance_dir(lake_root: Path) -> Path:
    """Outside the zones: records about the lake's data (erasure requests), not data."""
    return lake_root / "_governance"


def is_table(path: Path) -> bool:
    from deltalake import DeltaTable

    return DeltaTable.is_deltatable(str(path))


def open_table(path: Path, version: int | None = None) -> DeltaTable:
    """The Delta table at `path` (at `version`): the only place one is built. FileNotFoundError names
    the path when there is none."""
    from deltalake import DeltaTable

    if not DeltaTable.is_deltatable(str(path)):
        raise FileNotFoundError(f"no Delta table at {path}")
    return DeltaTable(str(path), version=version)


def version(path: Path) -> int | None:
    """The latest committed version, None when no table is there yet."""
    return open_table(path).version() if is_table(path) else None


def last_commit_at(path: Path) -> float | None:
    """Seconds since the epoch of the latest commit, None when no table is there yet."""
    return open_table(path).history(1)[0]["timestamp"] / 1000 if is_table(path) else None


def commit_times(path: Path) -> dict[int, int]:
    """Version -> commit timestamp (ms) of every version still in the log."""
    return {h["version"]: h["timestamp"] for h in open_table(path).history()}


def read_table(path: Path, version: int | None = None) -> tuple[pa.Table, int]:
    """The table's rows and the Delta version read.

    Reads the version's files with pyarrow: DeltaTable.to_pyarrow_table() aborted the process at exit
    in ~10% of runs here. Partition columns are not used in gold/bronze yet.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    dt = open_table(path, version)
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
        # Partition values live in the Delta log, not in the files: add them back.
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
    import pyarrow as pa

    fields = [
        pa.field(f.name, pa.string() if pa.types.is_string_view(f.type) or pa.types.is_large_string(f.type) else f.type)
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def history(path: Path, limit: int = 20) -> list[dict[str, Any]]:
    """Newest first: version, timestamp, operation, batch id, rows added/removed."""
    dt = open_table(path)
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
    return open_table(path).optimize.compact()


def vacuum(path: Path, retention_hours: int = 168, dry_run: bool = True) -> list[str]:
    """Files no version within the retention needs; deleted unless `dry_run`. Time travel to versions
    older than the retention stops working for the files removed."""
    return open_table(path).vacuum(retention_hours=retention_hours, dry_run=dry_run, enforce_retention_duration=False)
