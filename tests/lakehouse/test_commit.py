"""The one Delta commit path: stats from footers, overwrite, exactly-once batches, schema guard."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from lakehouse.core.commit import commit_parquet_files, overwrite
from lakehouse.core.lake import read_table


def _write(table_dir: Path, name: str, rows: list[dict]) -> Path:
    path = table_dir / "data" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    schema = pa.schema([("id", pa.int64()), ("born", pa.date32()), ("at", pa.timestamp("us", tz="UTC"))])
    pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    return path


ROWS = [
    {"id": 1, "born": date(1990, 1, 2), "at": datetime(2026, 1, 1, tzinfo=UTC)},
    {"id": 5, "born": None, "at": datetime(2026, 3, 1, 12, tzinfo=UTC)},
]


def test_first_commit_creates_table_with_stats_and_txn(tmp_path: Path) -> None:
    f = _write(tmp_path, "a.parquet", ROWS)
    result = commit_parquet_files(tmp_path, [f], app_id="ingest:t", batch_version=7, mode="overwrite")
    assert (result.table_version, result.rows, result.skipped) == (0, 2, False)
    dt = DeltaTable(str(tmp_path))
    assert dt.transaction_version("ingest:t") == 7
    log = (tmp_path / "_delta_log" / f"{0:020d}.json").read_text().splitlines()
    stats = json.loads(next(json.loads(line)["add"]["stats"] for line in log if '"add"' in line))
    assert stats["numRecords"] == 2
    assert stats["minValues"]["id"] == 1 and stats["maxValues"]["id"] == 5
    assert stats["nullCount"]["born"] == 1
    assert stats["maxValues"]["at"] == "2026-03-01T12:00:00.000000Z"
    table, version = read_table(tmp_path)
    assert version == 0 and sorted(table["id"].to_pylist()) == [1, 5]


def test_overwrite_replaces_and_same_batch_is_skipped(tmp_path: Path) -> None:
    commit_parquet_files(tmp_path, [_write(tmp_path, "a.parquet", ROWS)], app_id="x", batch_version=1, mode="overwrite")
    second = _write(tmp_path, "b.parquet", ROWS[:1])
    result = commit_parquet_files(tmp_path, [second], app_id="x", batch_version=2, mode="overwrite")
    assert result.table_version == 1
    assert read_table(tmp_path)[0].num_rows == 1
    retry = commit_parquet_files(tmp_path, [second], app_id="x", batch_version=2, mode="overwrite")
    assert retry.skipped and DeltaTable(str(tmp_path)).version() == 1
    assert read_table(tmp_path)[0].num_rows == 1


def test_append_with_new_column_is_refused(tmp_path: Path) -> None:
    commit_parquet_files(tmp_path, [_write(tmp_path, "a.parquet", ROWS)], app_id="x", batch_version=1)
    wider = tmp_path / "data" / "wide.parquet"
    pq.write_table(pa.table({"id": [9], "born": [None], "at": [None], "extra": ["x"]}), wider)
    with pytest.raises(ValueError, match="evolve the table first"):
        commit_parquet_files(tmp_path, [wider], app_id="x", batch_version=2, mode="append")
    assert DeltaTable(str(tmp_path)).version() == 0


def test_a_content_equal_overwrite_commits_nothing_even_after_compaction(tmp_path: Path) -> None:
    path = tmp_path / "gold"
    table = pa.table({"province": ["01", "79"], "count": [12, 40]})
    assert overwrite(path, table, digest="d1") is True
    assert overwrite(path, table, digest="d1") is False  # same contents: no version
    assert DeltaTable(str(path)).version() == 0
    DeltaTable(str(path)).optimize.z_order(["province"])  # rewrites files, not contents (like compaction)
    assert DeltaTable(str(path)).history(1)[0]["operation"] == "OPTIMIZE"
    assert overwrite(path, table, digest="d1") is False
    changed = pa.table({"province": ["01", "79"], "count": [12, 41]})
    assert overwrite(path, changed, digest="d2") is True
    assert read_table(path)[0].to_pylist()[1]["count"] == 41
    assert overwrite(path, changed) is True  # no digest, no comparison: always a version
