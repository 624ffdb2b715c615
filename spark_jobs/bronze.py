"""Bronze writes of one batch: the watermark the last batch recorded, the split of the engine's output
into clean and rejected files, and the tombstones of a change-log batch (lakehouse/core/changelog.py).
Commits go through lakehouse/core/commit.py."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_contracts import SourceTable
from lakehouse.core import changelog, lake
from lakehouse.core.changelog import TOMBSTONE
from lakehouse.core.settings import Settings
from spark_jobs.enforcement import REASON
from spark_jobs.source import SourceEngine, Stamp

WATERMARK_KEY = "lakehouse.watermark_hi"
WATERMARK_FROM_KEY = "lakehouse.watermark_lo"


def last_watermark(bronze: Path) -> datetime | None:
    """The high-water mark the last committed batch recorded (None: no batch yet)."""
    if not lake.is_table(bronze):
        return None
    for entry in lake.open_table(bronze).history():
        if entry.get(WATERMARK_KEY):
            return datetime.fromisoformat(entry[WATERMARK_KEY])
    return None


def split_stage(stage: Path, good_dir: Path, bad_dir: Path, schema: pa.Schema) -> tuple[list[Path], list[Path]]:
    """Move Spark's reason-partitioned output: clean files to `good_dir`, rejected folders to `bad_dir`."""
    good_dir.mkdir(parents=True, exist_ok=True)
    clean = stage / f"{REASON}=__HIVE_DEFAULT_PARTITION__"
    good = []
    for f in sorted(clean.glob("*.parquet")) if clean.exists() else []:
        good.append(f.rename(good_dir / f.name))
    if not good:  # no clean row: an empty file still carries the schema
        good.append(good_dir / "empty.parquet")
        pq.write_table(schema.empty_table(), good[0])
    bad = []
    for folder in sorted(stage.glob(f"{REASON}=*")):
        if folder != clean:
            bad_dir.mkdir(parents=True, exist_ok=True)
            folder.rename(bad_dir / folder.name)
            bad += sorted((bad_dir / folder.name).glob("*.parquet"))
    return good, bad


def parquet_rows(files: list[Path]) -> int:
    return sum(pq.read_metadata(f).num_rows for f in files)


def deleted_keys(engine: SourceEngine, settings: Settings, table: SourceTable, bronze: Path) -> pa.Table:
    """Keys bronze holds alive that the source no longer has (hard deletes)."""
    keys = list(table.primary_key)
    alive = changelog.read_current(bronze, keys, columns=keys)
    present = engine.keys(settings, table)
    present = present.cast(pa.schema([alive.schema.field(k) for k in keys]))
    return alive.join(present, keys, join_type="left anti")


def write_tombstones(path: Path, gone: pa.Table, schema: pa.Schema, stamp: Stamp) -> Path:
    """One file of tombstones for the keys in `gone`: the key, the batch, NULL elsewhere."""
    n, batch_id = gone.num_rows, stamp.batch_id
    now = pa.scalar(stamp.ingested_at, schema.field("_ingested_at").type)
    columns = []
    for f in schema:
        if f.name in gone.column_names:
            columns.append(gone[f.name].cast(f.type))
        elif f.name == "_batch_id":
            columns.append(pa.array([batch_id] * n, f.type))
        elif f.name == "_ingested_at":
            columns.append(pa.array([now] * n, f.type))
        elif f.name == TOMBSTONE:
            columns.append(pa.array([True] * n, f.type))
        else:
            columns.append(pa.nulls(n, f.type))
    pq.write_table(pa.table(columns, schema=nullable(schema)), path)
    return path


def tombstones(files: list[Path]) -> int:
    """Tombstones among a change-log batch's files (soft-deleted rows and detected deletes)."""
    total = 0
    for f in files:
        flags = pq.read_table(f, columns=[TOMBSTONE])[TOMBSTONE]
        total += pc.sum(flags.cast(pa.int64())).as_py() or 0
    return total


def nullable(schema: pa.Schema) -> pa.Schema:
    return pa.schema([f.with_nullable(True) for f in schema])
