"""Bronze of an incremental source table is a change log: a snapshot, then each batch appends the rows
that changed (inserted or updated, `_tombstone` false) and the keys that went away (soft-deleted rows
or detected deletes, `_tombstone` true). Appending costs what the change costs: no file of the table is
rewritten, where a MERGE of randomly spread changes rewrites nearly every file. Readers take the
current state: per key the row of the latest batch, unless that row is a tombstone (merge on read).

One definition of the current state, in DuckDB SQL, for dbt's bronze sources and for Python readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from lakehouse.core import lake

TOMBSTONE = "_tombstone"
LATEST = "_lakehouse_latest_batch"


def current_sql(relation: str, keys: Sequence[str]) -> str:
    """A DuckDB query over `relation` (the change log) giving the current rows, without `_tombstone`:
    per key, the rows of the latest batch that holds it, unless they are tombstones.

    Within one batch an upsert outranks a tombstone: deletes are captured before the batch's rows are
    read, so a key deleted and then inserted again is alive. Two rows of one key in one batch (a source
    that broke its key) both stay, so the key's `unique` test still sees them."""
    key = ", ".join(f'"{k}"' for k in keys)
    return (
        f"(SELECT * EXCLUDE ({TOMBSTONE}, {LATEST}) FROM (SELECT *, max(_ingested_at) OVER (PARTITION BY {key}) "
        f"AS {LATEST} FROM {relation}) WHERE _ingested_at = {LATEST} AND NOT {TOMBSTONE})"
    )


def is_change_log(path: Path) -> bool:
    return lake.is_table(path) and TOMBSTONE in pa.schema(lake.open_table(path).schema().to_arrow()).names


def read_current(path: Path, keys: Sequence[str], columns: Sequence[str] | None = None) -> pa.Table:
    """The current rows of a bronze table (a change log or a plain snapshot), optionally some columns."""
    import duckdb

    table = lake.open_table(path).to_pyarrow_dataset()
    con = duckdb.connect()
    con.register("change_log", table)
    relation = current_sql("change_log", keys) if TOMBSTONE in table.schema.names else "change_log"
    select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
    return con.execute(f"SELECT {select} FROM {relation}").to_arrow_table()


COLLAPSE_RATIO = 1.5  # collapse when the log holds this many rows per current row


def collapse(path: Path, keys: Sequence[str], ratio: float = COLLAPSE_RATIO) -> tuple[int, int] | None:
    """Rewrite a change log as its current state when superseded versions and tombstones make it
    `ratio` times larger: one overwrite commit that carries the `lakehouse.*` bookkeeping of earlier
    commits (watermark, change-data-capture position), so ingestion resumes where it was. Returns
    (rows before, rows after), or None when not worth it. Older versions stay readable until vacuum."""
    import shutil
    import uuid

    import duckdb

    from lakehouse.core.commit import carried_metadata, commit_parquet_files

    table = lake.open_table(path)
    logged = sum(int(n) for n in pa.table(table.get_add_actions()).column("num_records").to_pylist())
    dataset = table.to_pyarrow_dataset()
    con = duckdb.connect()
    con.register("change_log", dataset)
    current = con.execute(f"SELECT count(*) FROM {current_sql('change_log', keys)}").fetchone()[0]
    if TOMBSTONE not in dataset.schema.names or logged < ratio * max(current, 1):
        return None
    carried = carried_metadata(table)
    out = path / "data" / f"collapse-{uuid.uuid4().hex[:8]}"
    try:
        con.execute(
            f"COPY (SELECT *, false AS {TOMBSTONE} FROM {current_sql('change_log', keys)}) TO '{out}' "
            "(FORMAT parquet, COMPRESSION zstd, PER_THREAD_OUTPUT)"
        )
        commit_parquet_files(
            path,
            sorted(out.glob("*.parquet")),
            app_id="maintenance:collapse",
            batch_version=table.version(),
            mode="overwrite",
            metadata=carried,
        )
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return logged, current
