"""Every commit to the lake goes through here (delta-rs): ingested Parquet files (bronze snapshots and
change-log appends, quarantine) with additive schema evolution, and dbt's table writes.

- commit_parquet_files: an engine writes Parquet in parallel; this reads the footers, builds add actions
  with statistics and commits them in ONE driver-side transaction, recording a `txn` action (app id +
  batch version) so a batch that was already committed is never committed twice.
- overwrite: a whole table from a stream of record batches (dbt's `delta` materialization); a write
  whose contents equal what the table holds commits nothing, so a rebuild over unchanged inputs keeps
  its version and the publisher makes no new release.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
import pyarrow.parquet as pq
from deltalake import CommitProperties, Schema, Transaction, write_deltalake
from deltalake.transaction import AddAction, create_table_with_add_actions

from lakehouse.core import lake

STRING_STATS_MAX = 32  # longer strings get no min/max rather than a wrong truncated max


@dataclass(frozen=True)
class CommitResult:
    table_version: int
    files: int
    rows: int
    skipped: bool  # True when this batch version was already committed


def _stat_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None
    if isinstance(value, str) and len(value) > STRING_STATS_MAX:
        return None
    return value


def file_stats(path: Path) -> tuple[str, int, pa.Schema]:
    """Delta `stats` JSON (numRecords, minValues, maxValues, nullCount) from a Parquet footer."""
    meta = pq.ParquetFile(path).metadata
    schema = meta.schema.to_arrow_schema()
    mins: dict[str, Any] = {}
    maxs: dict[str, Any] = {}
    nulls: dict[str, int] = {}
    for col in range(meta.num_columns):
        name = meta.schema.column(col).path
        lo = hi = None
        null_count: int | None = 0
        for rg in range(meta.num_row_groups):
            st = meta.row_group(rg).column(col).statistics
            if st is None:
                null_count = None
                lo = hi = None
                break
            null_count = None if null_count is None or not st.has_null_count else null_count + st.null_count
            if st.has_min_max:
                lo = st.min if lo is None else min(lo, st.min)
                hi = st.max if hi is None else max(hi, st.max)
        if null_count is not None:
            nulls[name] = null_count
        lo, hi = _stat_value(lo), _stat_value(hi)
        if lo is not None and hi is not None:
            mins[name], maxs[name] = lo, hi
    stats = {"numRecords": meta.num_rows, "minValues": mins, "maxValues": maxs, "nullCount": nulls}
    return json.dumps(stats, default=str), meta.num_rows, schema


def _partition_values(relative: str) -> dict[str, str | None]:
    # Spark writes hive-style folders (col=escaped value); Delta keeps the values in the log, not the files.
    values: dict[str, str | None] = {}
    for part in relative.split("/")[:-1]:
        if "=" in part:
            name, value = part.split("=", 1)
            values[name] = None if value == "__HIVE_DEFAULT_PARTITION__" else unquote(value)
    return values


def commit_parquet_files(
    table_path: Path,
    files: Sequence[Path],
    *,
    app_id: str,
    batch_version: int,
    mode: str = "append",
    partition_by: Sequence[str] = (),
    evolve: bool = False,
    metadata: dict[str, Any] | None = None,
) -> CommitResult:
    """Add `files` (already under `table_path`) to the Delta table in one commit.

    mode "overwrite" replaces the table's current files; "append" adds to them. New columns are added
    to the table first when `evolve` is set, else refused; a column the table has and the files lack
    is always refused. The commit carries
    txn(app_id, batch_version): if the table's last batch for app_id is this one, nothing is committed
    and `skipped` is True (a retried task after a successful commit). Equality, not ordering: manual
    runs and scheduled runs number batches differently, and a re-applied older batch is idempotent.
    """
    table_path = table_path.resolve()
    existing = lake.open_table(table_path) if lake.is_table(table_path) else None
    if existing is not None:
        done = existing.transaction_version(app_id)
        if done == batch_version:
            return CommitResult(existing.version(), 0, 0, skipped=True)
    props = CommitProperties(
        custom_metadata={k: str(v) for k, v in (metadata or {}).items()},
        app_transactions=[Transaction(app_id, batch_version)],
    )
    if not files:
        if existing is None or mode != "overwrite":
            raise ValueError(f"no Parquet files to commit to {table_path}")
        # an overwrite with nothing (a snapshot without rejected rows): the table holds no rows, keeps
        # its schema, and its earlier contents stay readable in its history
        partitions = list(existing.metadata().partition_columns) or None
        current = pa.schema(existing.schema().to_arrow())
        existing.create_write_transaction(
            [], mode="overwrite", schema=current, partition_by=partitions, commit_properties=props
        )
        return CommitResult(lake.version(table_path) or 0, 0, 0, skipped=False)

    actions, rows, schema = [], 0, None
    for f in sorted(files):
        stats, n, file_schema = file_stats(f)
        # nullability is not compared: engines differ (Spark marks literals and NOT NULL source columns
        # required) and a raw zone imposes no NOT NULL; the table's schema is all nullable
        file_schema = pa.schema([fld.with_nullable(True) for fld in file_schema])
        schema = schema or file_schema
        if file_schema != schema:
            raise ValueError(f"Parquet files for {table_path} disagree on schema: {f}")
        relative = f.resolve().relative_to(table_path).as_posix()
        actions.append(
            AddAction(
                relative, f.stat().st_size, _partition_values(relative), int(f.stat().st_mtime * 1000), True, stats
            )
        )
        rows += n
    assert schema is not None
    data_schema = pa.schema([fld for fld in schema if fld.name not in partition_by])
    partition_fields = [pa.field(p, pa.string()) for p in partition_by]
    full_schema = pa.schema(list(data_schema) + partition_fields)
    if existing is None:
        create_table_with_add_actions(
            str(table_path),
            Schema.from_arrow(full_schema),
            actions,
            mode="error",
            partition_by=list(partition_by) or None,
            commit_properties=props,
        )
        return CommitResult(0, len(actions), rows, skipped=False)
    current = pa.schema(existing.schema().to_arrow())
    added = [f for f in full_schema if f.name not in current.names]
    missing = [n for n in current.names if n not in full_schema.names]
    if missing or (added and not evolve):
        # Committing files with a new column would silently hide it: refuse or evolve first.
        raise ValueError(
            f"schema of {table_path} is {current.names}, new files have {full_schema.names}; "
            f"missing {missing or 'none'}, new {[f.name for f in added] or 'none'}: evolve the table first"
        )
    if added:
        existing.alter.add_columns(Schema.from_arrow(pa.schema(added)).fields)
        existing = lake.open_table(table_path)
        full_schema = pa.schema(existing.schema().to_arrow())
    existing.create_write_transaction(
        actions, mode=mode, schema=full_schema, partition_by=list(partition_by) or None, commit_properties=props
    )
    return CommitResult(lake.version(table_path) or 0, len(actions), rows, skipped=False)


DIGEST_KEY = "lakehouse.content_digest"
# Commits that rewrite files without changing what the table holds (maintenance).
CONTENT_PRESERVING = ("OPTIMIZE", "VACUUM START", "VACUUM END")


def carried_metadata(table: Any) -> dict[str, str]:
    """The `lakehouse.*` bookkeeping of a table's commits, each key's latest value (watermark, change
    data capture position): what a rewrite of the whole table must carry so ingestion resumes where it
    was. The content digest is not carried (the rewrite has other contents)."""
    carried: dict[str, str] = {}
    for entry in table.history():  # newest first
        for key, value in entry.items():
            if key.startswith("lakehouse.") and key != DIGEST_KEY and key not in carried:
                carried[key] = str(value)
    return carried


def content_digest(table_path: Path) -> str | None:
    """The digest the table's last content-changing commit recorded (None: none recorded, or no table)."""
    if not lake.is_table(table_path):
        return None
    for entry in lake.open_table(table_path).history(20):
        if entry.get("operation") not in CONTENT_PRESERVING:
            return entry.get(DIGEST_KEY)
    return None


def overwrite(table_path: Path, data: pa.RecordBatchReader | pa.Table, digest: str | None = None) -> bool:
    """Replace the table's contents (and schema) in one commit; a failed write leaves the previous
    version in place. `digest` identifies the new contents (schema included): when the table's last
    write recorded the same one, nothing is committed. Returns whether a version was committed."""
    if digest is not None and content_digest(table_path) == digest:
        return False
    properties = CommitProperties(custom_metadata={DIGEST_KEY: digest}) if digest else None
    write_deltalake(str(table_path), data, mode="overwrite", schema_mode="overwrite", commit_properties=properties)
    return True
