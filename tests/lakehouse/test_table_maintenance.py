"""Delta maintenance verbs: history, time travel, compaction, vacuum (real Delta tables)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

from lakehouse.core import lake
from lakehouse.core.settings import REPO_ROOT


def _table(tmp_path: Path) -> Path:
    path = tmp_path / "lake" / "bronze" / "demo" / "t"
    for i in range(5):
        write_deltalake(str(path), pa.table({"id": [i], "v": [f"r{i}"]}), mode="append")
    return path


def test_compaction_keeps_rows_and_time_travel_reads_old_versions(tmp_path: Path) -> None:
    path = _table(tmp_path)
    assert len(DeltaTable(str(path)).file_uris()) == 5
    metrics = lake.compact(path)
    assert metrics["numFilesRemoved"] == 5 and len(DeltaTable(str(path)).file_uris()) == 1
    table, version = lake.read_table(path)
    assert version == 5 and sorted(table["id"].to_pylist()) == [0, 1, 2, 3, 4]
    old, _ = lake.read_table(path, version=1)
    assert sorted(old["id"].to_pylist()) == [0, 1]
    assert [h["version"] for h in lake.history(path)][:2] == [5, 4]


def test_vacuum_removes_only_unreferenced_files(tmp_path: Path) -> None:
    path = _table(tmp_path)
    lake.compact(path)
    assert len(lake.vacuum(path, retention_hours=0, dry_run=True)) == 5
    assert len(list(path.glob("*.parquet"))) == 6
    lake.vacuum(path, retention_hours=0, dry_run=False)
    assert len(list(path.glob("*.parquet"))) == 1
    assert lake.read_table(path)[0].num_rows == 5


def test_cli_table_verbs(tmp_path: Path) -> None:
    _table(tmp_path)
    env = {"LAKE_ROOT": str(tmp_path / "lake"), "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), "table", "read", "bronze/demo/t", "--version", "2"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "at Delta v2: 3 rows" in run.stdout
    missing = subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), "table", "history", "bronze/nope"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1 and "no Delta table" in missing.stderr
