"""Deletes from PostgreSQL's write-ahead log (spark_jobs/cdc.py): exact, without reading the source's
keys, and safe when the slot is gone, replaced by a failed snapshot, or the source cannot decode."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from deltalake import DeltaTable

from data_contracts import SourceTable, source_table
from lakehouse.core.changelog import read_current
from lakehouse.core.settings import REPO_ROOT, Settings
from spark_jobs import cdc
from spark_jobs.enforcement import QualityThresholdExceeded
from spark_jobs.ingest import ingest_table
from spark_jobs.source import SourceEngine, open_engine
from synthetic.sectors import change_citizens, seed

CITIZEN = source_table("population", "citizen")


class NoKeyReads:
    """The engine, except that reading every key of the source fails the test."""

    def __init__(self, engine: SourceEngine) -> None:
        self._engine, self.name = engine, engine.name

    def __getattr__(self, name: str):
        return getattr(self._engine, name)

    def keys(self, settings: Settings, table: SourceTable):
        raise AssertionError(f"{table.qualified_name}: every source key read; change data capture expected")


@pytest.fixture(scope="module")
def engine() -> Iterator[SourceEngine]:
    with open_engine(dataclasses.replace(Settings.from_env(), ingest_engine="duckdb")) as opened:
        yield opened


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings.from_env(), lake_root=tmp_path / "lake")


def _live(settings: Settings) -> set[int]:
    with psycopg.connect(f"{settings.postgres_url}/{CITIZEN.database}") as conn:
        return {r[0] for r in conn.execute("SELECT registry_id FROM citizen").fetchall()}


def _bronze(settings: Settings) -> list[int]:
    return read_current(CITIZEN.bronze_path(settings.lake_root), ["registry_id"])["registry_id"].to_pylist()


def _slots(prefix: str) -> list[str]:
    with psycopg.connect(f"{Settings.from_env().postgres_url}/postgres") as conn:
        rows = conn.execute("SELECT slot_name FROM pg_replication_slots WHERE slot_name LIKE %s", (prefix + "%",))
        return [r[0] for r in rows.fetchall()]


def test_deletes_come_from_the_wal_without_reading_every_key(engine, settings) -> None:
    seed(settings, scale=400, dirty_share=0.0, seed=21)
    ingest_table(engine, settings, CITIZEN, batch_version=1)
    slot, lsn = cdc.recorded(CITIZEN.bronze_path(settings.lake_root))
    assert slot and lsn and _slots(slot) == [slot]
    change = change_citizens(settings, share=0.05, seed=4)
    result = ingest_table(NoKeyReads(engine), settings, CITIZEN, batch_version=2)
    assert result.rows_deleted == change.deleted
    bronze = _bronze(settings)
    assert len(bronze) == len(set(bronze)) and set(bronze) == _live(settings)
    # the data engineer's status shows the current rows beside what the change log holds
    status = subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), "status"],
        env={**os.environ, "LAKE_ROOT": str(settings.lake_root)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    logged = 400 + change.updated + change.inserted + change.deleted
    assert re.search(rf"population/citizen\s+v1\s+{len(bronze)} rows \({logged} in the change log\)", status), status
    assert re.search(rf"; slot {cdc.recorded(CITIZEN.bronze_path(settings.lake_root))[0]}: [0-9.]+ MB WAL held", status)
    source_down = subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), "status"],
        env={**os.environ, "LAKE_ROOT": str(settings.lake_root), "POSTGRES_URL": "postgresql://postgres@127.0.0.1:1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "source unreachable" in source_down  # status still answers
    # the slot was advanced past what bronze committed; a batch with no change commits nothing
    version = DeltaTable(str(CITIZEN.bronze_path(settings.lake_root))).version()
    assert ingest_table(NoKeyReads(engine), settings, CITIZEN, batch_version=3).rows_read == 0
    assert DeltaTable(str(CITIZEN.bronze_path(settings.lake_root))).version() == version


def test_a_deleted_then_reinserted_key_is_alive(engine, settings) -> None:
    seed(settings, scale=200, dirty_share=0.0, seed=22)
    ingest_table(engine, settings, CITIZEN, batch_version=1)
    with psycopg.connect(f"{settings.postgres_url}/{CITIZEN.database}", autocommit=True) as conn:
        row = conn.execute("SELECT * FROM citizen WHERE registry_id = 5").fetchone()
        conn.execute("DELETE FROM citizen WHERE registry_id = 5")
        marks = ", ".join(["%s"] * (len(row) - 1))
        conn.execute(f"INSERT INTO citizen VALUES ({marks}, now() + interval '1 day')", row[:-1])
    ingest_table(NoKeyReads(engine), settings, CITIZEN, batch_version=2)
    assert 5 in _bronze(settings) and set(_bronze(settings)) == _live(settings)


def test_a_dropped_slot_falls_back_to_comparing_keys(engine, settings) -> None:
    seed(settings, scale=300, dirty_share=0.0, seed=23)
    ingest_table(engine, settings, CITIZEN, batch_version=1)
    slot, _ = cdc.recorded(CITIZEN.bronze_path(settings.lake_root))
    cdc.drop_slots(settings, slot or "")  # an operator, or the WAL cap
    change = change_citizens(settings, share=0.05, seed=5)
    result = ingest_table(engine, settings, CITIZEN, batch_version=2)
    assert result.rows_deleted == change.deleted and set(_bronze(settings)) == _live(settings)
    new_slot, _ = cdc.recorded(CITIZEN.bronze_path(settings.lake_root))
    assert new_slot != slot and _slots(new_slot or "-") == [new_slot]


def test_a_failed_snapshot_never_leaves_bronze_reading_a_replaced_slot(engine, settings) -> None:
    seed(settings, scale=300, dirty_share=0.0, seed=24)
    ingest_table(engine, settings, CITIZEN, batch_version=1)
    change = change_citizens(settings, share=0.05, seed=6)  # deletes the old slot has, a new one will not
    with psycopg.connect(f"{settings.postgres_url}/{CITIZEN.database}", autocommit=True) as conn:
        conn.execute("UPDATE citizen SET sex = 9 WHERE registry_id % 10 = 0")
    strict = dataclasses.replace(CITIZEN, policy=dataclasses.replace(CITIZEN.policy, quarantine_threshold=0.01))
    with pytest.raises(QualityThresholdExceeded):
        ingest_table(engine, settings, strict, batch_version=2, full_refresh=True)
    result = ingest_table(engine, settings, CITIZEN, batch_version=3)
    assert result.rows_deleted == change.deleted and set(_bronze(settings)) == _live(settings)


def test_a_source_without_logical_decoding_is_named_and_keys_are_compared(engine, settings, caplog) -> None:
    no_capture = dataclasses.replace(settings, cdc=False)
    seed(settings, scale=200, dirty_share=0.0, seed=25)
    ingest_table(engine, no_capture, CITIZEN, batch_version=1)
    assert cdc.recorded(CITIZEN.bronze_path(settings.lake_root)) == (None, None)
    change = change_citizens(settings, share=0.05, seed=7)
    assert ingest_table(engine, no_capture, CITIZEN, batch_version=2).rows_deleted == change.deleted
    with psycopg.connect(f"{settings.postgres_url}/{CITIZEN.database}", autocommit=True) as conn:
        conn.execute("ALTER TABLE citizen REPLICA IDENTITY DEFAULT")  # no key in the WAL's deletes
    caplog.set_level(logging.INFO, logger="spark_jobs.cdc")
    assert cdc.Deletes.of(settings, CITIZEN) is None
    assert "replica identity does not carry its key" in caplog.text


def test_maintenance_collapses_a_grown_change_log_and_ingestion_resumes(engine, settings) -> None:
    from lakehouse.maintenance import maintain

    seed(settings, scale=300, dirty_share=0.0, seed=26)
    ingest_table(engine, settings, CITIZEN, batch_version=1)
    for batch in (2, 3):
        change_citizens(settings, share=0.4, seed=batch)
        ingest_table(engine, settings, CITIZEN, batch_version=batch)
    bronze = CITIZEN.bronze_path(settings.lake_root)
    before = _bronze(settings)
    lines = maintain(settings, "bronze")
    assert any("population/citizen: change log collapsed" in line for line in lines), lines
    table = DeltaTable(str(bronze)).to_pyarrow_table()
    assert table.num_rows == len(before) and not any(table["_tombstone"].to_pylist())
    assert sorted(_bronze(settings)) == sorted(before)
    # the watermark and the slot survived: the next batch is incremental and reads no key
    change = change_citizens(settings, share=0.05, seed=9)
    result = ingest_table(NoKeyReads(engine), settings, CITIZEN, batch_version=4)
    assert result.mode == "incremental" and result.rows_deleted == change.deleted
    assert set(_bronze(settings)) == _live(settings)


def test_a_slot_that_cannot_be_made_falls_back_and_gives_the_old_slot_up(engine, settings, monkeypatch, caplog) -> None:
    seed(settings, scale=300, dirty_share=0.0, seed=27)
    ingest_table(engine, settings, CITIZEN, batch_version=1)
    old_slot, _ = cdc.recorded(CITIZEN.bronze_path(settings.lake_root))
    change = change_citizens(settings, share=0.05, seed=8)

    def exhausted(self):
        raise psycopg.errors.ConfigurationLimitExceeded("all replication slots are in use")

    monkeypatch.setattr(cdc.Deletes, "usable", lambda self, slot: False)  # the old slot is gone too
    monkeypatch.setattr(cdc.Deletes, "restart", exhausted)
    result = ingest_table(engine, settings, CITIZEN, batch_version=2)
    assert result.rows_deleted == change.deleted and set(_bronze(settings)) == _live(settings)
    assert "change data capture failed (all replication slots are in use)" in caplog.text
    # the commit records that no slot is read any more: replaying the old one could delete keys
    # inserted again since; the next batch starts a new slot and compares keys once
    assert cdc.recorded(CITIZEN.bronze_path(settings.lake_root)) == (None, None)
    monkeypatch.undo()
    change = change_citizens(settings, share=0.05, seed=10)
    assert ingest_table(engine, settings, CITIZEN, batch_version=3).rows_deleted == change.deleted
    new_slot, _ = cdc.recorded(CITIZEN.bronze_path(settings.lake_root))
    assert new_slot and new_slot != old_slot and set(_bronze(settings)) == _live(settings)
