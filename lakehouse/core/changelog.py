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
RANK = "_lakehouse_version_rank"


def current_sql(relation: str, keys: Sequence[str]) -> str:
    """A DuckDB query over `relation` (the change log) giving the current rows, without `_tombstone`.

    Within one batch an upsert outranks a tombstone: deletes are captured before the batch's rows are
    read, so a key deleted and then inserted again is alive."""
    key = ", ".join(f'"{k}"' for k in keys)
    return (
        f"(SELECT * EXCLUDE ({TOMBSTONE}, {RANK}) FROM (SELECT *, row_number() OVER (PARTITION BY {key} "
        f"ORDER BY _ingested_at DESC, {TOMBSTONE} ASC) AS {RANK} FROM {relation}) "
        f"WHERE {RANK} = 1 AND NOT {TOMBSTONE})"
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
