"""Reading Delta tables of the lake into Arrow (the one read path outside Spark and dbt)."""

from __future__ import annotations

from pathlib import Path

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
    table = pa.concat_tables(pq.read_table(f.removeprefix("file://")) for f in files)
    return table, dt.version()
