"""Bronze writes of one batch: the watermark the last batch recorded, the split of Spark's output into
clean and rejected files, the keys bronze holds (delete detection) and the MERGE of an incremental
batch with its tombstones. Commits go through lakehouse/core/commit.py."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from data_contracts import SourceTable
from lakehouse.core import commit, lake
from spark_jobs.enforcement import REASON

WATERMARK_KEY = "lakehouse.watermark_hi"
WATERMARK_FROM_KEY = "lakehouse.watermark_lo"
TOMBSTONE = "_tombstone"


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


def bronze_keys(bronze: Path, keys: tuple[str, ...]) -> pa.Table:
    """Every primary key bronze holds now (delete detection anti-joins it with the source's keys)."""
    parts = [pq.read_table(u.removeprefix("file://"), columns=list(keys)) for u in lake.open_table(bronze).file_uris()]
    return pa.concat_tables(parts) if parts else pa.table({k: pa.array([], pa.int64()) for k in keys})


def merge_batch(
    bronze: Path,
    table: SourceTable,
    batch: pa.Table,
    tombstone_keys: pa.Table | None,
    app_id: str,
    batch_version: int,
    metadata: dict[str, str],
) -> tuple[int, int, list[str]]:
    """MERGE the batch into bronze on the primary key; tombstones (soft-deleted rows and keys gone from
    the source) delete. Returns (version, rows deleted, columns added by additive evolution)."""
    keys = table.primary_key
    # Spark marks literal audit columns NOT NULL; tombstone rows carry NULLs there.
    batch = batch.cast(pa.schema([f.with_nullable(True) for f in batch.schema]))
    if table.policy.delete_detection == "soft_delete" and table.policy.soft_delete_column in batch.column_names:
        batch = batch.append_column(TOMBSTONE, pc.is_valid(batch[table.policy.soft_delete_column]))
    else:
        batch = batch.append_column(TOMBSTONE, pa.array([False] * batch.num_rows, pa.bool_()))
    if tombstone_keys is not None and tombstone_keys.num_rows:
        gone = tombstone_keys.select(list(keys))
        padding = {n: pa.nulls(gone.num_rows, batch.schema.field(n).type) for n in batch.column_names if n not in keys}
        padding[TOMBSTONE] = pa.array([True] * gone.num_rows)
        columns = {**{k: gone[k].cast(batch.schema.field(k).type) for k in keys}, **padding}
        gone = pa.table([columns[n] for n in batch.column_names], schema=batch.schema)
        batch = pa.concat_tables([batch, gone])
    result = commit.merge(
        bronze,
        batch,
        keys,
        delete_flag=TOMBSTONE,
        app_id=app_id,
        batch_version=batch_version,
        metadata=metadata,
        ignore=(REASON,),
    )
    return result.table_version, result.rows_deleted, result.evolved
