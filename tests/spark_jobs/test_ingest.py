"""Ingestion from real PostgreSQL and MariaDB into bronze Delta, as the contracts say, through both
engines: DuckDB's scanners (one machine, the default) and Spark JDBC (the cluster path), same code."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pyarrow as pa
import pymysql
import pytest
from deltalake import DeltaTable

from data_contracts import ContractError, SourceTable, source_table, source_tables
from lakehouse.core.changelog import read_current
from lakehouse.core.lake import read_table
from lakehouse.core.settings import REPO_ROOT, Settings
from spark_jobs.enforcement import QualityThresholdExceeded
from spark_jobs.ingest import ingest_table
from spark_jobs.source import SourceEngine, SourceUnavailable, open_engine
from synthetic.sectors import change_citizens, seed


@pytest.fixture(scope="module", params=["duckdb", "spark"])
def engine(request: pytest.FixtureRequest) -> Iterator[SourceEngine]:
    with open_engine(dataclasses.replace(Settings.from_env(), ingest_engine=request.param), "test-ingest") as opened:
        assert opened.name == request.param
        yield opened


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(
        Settings.from_env(), lake_root=tmp_path / "lake", source_retries=2, source_retry_seconds=0.1
    )


def _source_rows(settings: Settings, table: SourceTable, columns: list[str]) -> set[tuple]:
    """The live rows: a soft-deleted row is deleted."""
    sql = f"SELECT {', '.join(columns)} FROM {table.table}"
    if table.policy.delete_detection == "soft_delete":
        sql += f" WHERE {table.policy.soft_delete_column} IS NULL"
    if table.server_type == "postgres":
        with psycopg.connect(f"{settings.postgres_url}/{table.database}") as conn:
            return {tuple(r) for r in conn.execute(sql).fetchall()}
    with pymysql.connect(host="127.0.0.1", user="root", database=table.database) as conn, conn.cursor() as cur:
        cur.execute(sql)
        return {tuple(r) for r in cur.fetchall()}


def _lake_rows(path: Path, columns: list[str], keys: list[str] | None = None) -> list[tuple]:
    """Rows of a lake table; of a bronze change log, the current ones (keys given)."""
    if not DeltaTable.is_deltatable(str(path)):
        return []
    table = read_current(path, keys) if keys else read_table(path)[0]
    return list(zip(*[table[c].to_pylist() for c in columns], strict=True))


def _sql(settings: Settings, table: SourceTable, *statements: str) -> None:
    if table.server_type == "postgres":
        with psycopg.connect(f"{settings.postgres_url}/{table.database}", autocommit=True) as conn:
            for s in statements:
                conn.execute(s)
    else:
        with (
            pymysql.connect(host="127.0.0.1", user="root", database=table.database, autocommit=True) as conn,
            conn.cursor() as cur,
        ):
            for s in statements:
                cur.execute(s)


def test_full_load_splits_every_source_row_into_bronze_or_quarantine(engine, settings) -> None:
    seed(settings, scale=400, dirty_share=0.05, seed=7)
    for table in source_tables():
        result = ingest_table(engine, settings, table, batch_version=1)
        keys = list(table.primary_key)
        source = _source_rows(settings, table, keys)
        bronze = set(_lake_rows(table.bronze_path(settings.lake_root), keys, keys))
        quarantined = set(_lake_rows(table.quarantine_path(settings.lake_root), keys))
        assert bronze | quarantined == source and not bronze & quarantined, table.qualified_name
        assert (result.rows_written, result.rows_quarantined) == (len(bronze), len(quarantined))
        bronze_table, version = read_table(table.bronze_path(settings.lake_root))
        change_log = ["_tombstone"] if table.policy.mode == "incremental" else []
        assert bronze_table.column_names == [c.name for c in table.columns] + ["_batch_id", "_ingested_at"] + change_log
        assert bronze_table.schema.field("_ingested_at").type == pa.timestamp("us", tz="UTC")
        assert len(set(bronze_table["_batch_id"].to_pylist())) == 1
        assert version == 0
        # the batch's own facts are in its commit, once, not repeated on every row
        commit = DeltaTable(str(table.bronze_path(settings.lake_root))).history(1)[0]
        assert (commit["source"], commit["contract"]) == (table.source_label, table.contract_id)
    citizen = source_table("population", "citizen")
    reasons = read_table(citizen.quarantine_path(settings.lake_root))[0]["_quarantine_reason"].to_pylist()
    assert any("citizen_id_present" in r for r in reasons) and any("sex_code" in r for r in reasons)


def test_incremental_applies_updates_inserts_and_deletes_exactly(engine, settings) -> None:
    seed(settings, scale=400, dirty_share=0.0, seed=8)
    citizen = source_table("population", "citizen")
    columns = ["registry_id", "citizen_id", "phone", "updated_at"]
    ingest_table(engine, settings, citizen, batch_version=1)
    change = change_citizens(settings, share=0.05, seed=3)
    result = ingest_table(engine, settings, citizen, batch_version=2)
    assert result.mode == "incremental"
    assert result.rows_read == change.updated + change.inserted and result.rows_deleted == change.deleted
    expected = {(r[0], r[1], r[2], r[3]) for r in _source_rows(settings, citizen, columns)}
    bronze = _lake_rows(citizen.bronze_path(settings.lake_root), columns, ["registry_id"])
    assert len(bronze) == len(set(bronze))
    assert {(a, b, c, d.replace(tzinfo=None)) for a, b, c, d in bronze} == expected
    # a finished batch is never applied twice; a later batch with no source change commits nothing
    version = DeltaTable(str(citizen.bronze_path(settings.lake_root))).version()
    assert ingest_table(engine, settings, citizen, batch_version=2).skipped
    assert ingest_table(engine, settings, citizen, batch_version=3).rows_read == 0
    assert DeltaTable(str(citizen.bronze_path(settings.lake_root))).version() == version


def test_soft_deletes_leave_bronze(engine, settings) -> None:
    seed(settings, scale=400, dirty_share=0.0, seed=9)
    enrolment = source_table("education", "enrolment")
    ingest_table(engine, settings, enrolment, batch_version=1)
    _sql(settings, enrolment, "UPDATE enrolment SET deleted_at = now(), updated_at = now() WHERE enrolment_id <= 5")
    result = ingest_table(engine, settings, enrolment, batch_version=2)
    assert result.rows_deleted == 5
    keys = {k for (k,) in _lake_rows(enrolment.bronze_path(settings.lake_root), ["enrolment_id"], ["enrolment_id"])}
    live = {k for (k,) in _source_rows(settings, enrolment, ["enrolment_id"])} - set(range(1, 6))
    assert keys == live


def test_added_column_evolves_bronze_when_the_contract_allows(engine, settings) -> None:
    seed(settings, scale=300, dirty_share=0.0, seed=10)
    visits = source_table("health", "hospital_visit")
    assert visits.policy.drift_policy == "evolve_additive"
    ingest_table(engine, settings, visits, batch_version=1)
    _sql(
        settings,
        visits,
        "ALTER TABLE hospital_visit ADD COLUMN triage_level INT",
        "UPDATE hospital_visit SET triage_level = 2, updated_at = NOW() + INTERVAL 1 DAY WHERE visit_id <= 3",
    )
    result = ingest_table(engine, settings, visits, batch_version=2)
    assert result.evolved == ["triage_level"]
    bronze = read_current(visits.bronze_path(settings.lake_root), ["visit_id"])
    levels = dict(zip(bronze["visit_id"].to_pylist(), bronze["triage_level"].to_pylist(), strict=True))
    assert levels[1] == 2 and levels[10] is None


@pytest.mark.parametrize(
    ("statement", "message"),
    [
        ("ALTER TABLE citizen ADD COLUMN nickname text", r"new column\(s\) nickname not in the contract"),
        ("ALTER TABLE citizen DROP COLUMN phone", r"column phone \(varchar\(15\)\) is missing"),
        ("ALTER TABLE citizen ALTER COLUMN sex TYPE varchar(2)", r"column sex: expected smallint .* found string"),
        ("ALTER TABLE citizen RENAME COLUMN phone TO mobile", r"column phone .* is missing.*new column\(s\) mobile"),
    ],
    ids=["added", "dropped", "retyped", "renamed"],
)
def test_drift_fails_naming_contract_table_and_column(engine, settings, statement, message) -> None:
    seed(settings, scale=200, dirty_share=0.0, seed=11)
    citizen = source_table("population", "citizen")
    assert citizen.policy.drift_policy == "fail"
    ingest_table(engine, settings, citizen, batch_version=1)
    _sql(settings, citizen, statement)
    with pytest.raises(ContractError, match=rf"urn:vn-lakehouse:source:population:citizen.*citizen.*{message}"):
        ingest_table(engine, settings, citizen, batch_version=2, full_refresh=True)
    assert DeltaTable(str(citizen.bronze_path(settings.lake_root))).version() == 0


def test_quarantine_threshold_leaves_bronze_at_its_version(engine, settings) -> None:
    seed(settings, scale=400, dirty_share=0.0, seed=12)
    citizen = source_table("population", "citizen")
    ingest_table(engine, settings, citizen, batch_version=1)
    _sql(settings, citizen, "UPDATE citizen SET sex = 9, updated_at = now() WHERE registry_id <= 40")
    strict = dataclasses.replace(citizen, policy=dataclasses.replace(citizen.policy, quarantine_threshold=0.01))
    with pytest.raises(QualityThresholdExceeded, match=r"40 of \d+ rows .* failed quality rules"):
        ingest_table(engine, settings, strict, batch_version=2, full_refresh=True)
    assert DeltaTable(str(citizen.bronze_path(settings.lake_root))).version() == 0
    reasons = read_table(citizen.quarantine_path(settings.lake_root))[0]["_quarantine_reason"].to_pylist()
    assert reasons.count("sex_code: sex not in [1, 2]") == 40


def test_a_snapshot_without_rejected_rows_empties_the_quarantine(engine, settings) -> None:
    """A source whose bad rows were corrected: the next snapshot leaves nothing in quarantine (the
    rejects stay in its history) and every row in bronze. It used to fail: "no Parquet files to commit"."""
    seed(settings, scale=200, dirty_share=0.0, seed=14)
    card = source_table("health", "insurance_card")
    assert card.policy.mode == "full"
    _sql(settings, card, "UPDATE insurance_card SET valid_to = valid_from - INTERVAL 1 DAY WHERE card_id <= 3")
    ingest_table(engine, settings, card, batch_version=1)
    quarantine = card.quarantine_path(settings.lake_root)
    assert read_table(quarantine)[0].num_rows == 3
    _sql(settings, card, "UPDATE insurance_card SET valid_to = valid_from + INTERVAL 1 YEAR WHERE card_id <= 3")
    result = ingest_table(engine, settings, card, batch_version=2)
    assert result.rows_quarantined == 0 and read_table(quarantine)[0].num_rows == 0
    assert read_table(quarantine, version=0)[0].num_rows == 3  # what was rejected, and why, stays in history
    assert read_table(card.bronze_path(settings.lake_root))[0].num_rows == result.rows_written > 0


def test_killed_ingestion_leaves_a_committed_version_and_rerun_completes(settings) -> None:
    seed(settings, scale=20_000, dirty_share=0.0, seed=13)
    citizen = source_table("population", "citizen")
    bronze = citizen.bronze_path(settings.lake_root)
    env = {**os.environ, "LAKE_ROOT": str(settings.lake_root)}
    cmd = [str(REPO_ROOT / "bin" / "lakehouse"), "ingest", "--sector", "population", "--batch-version", "7"]
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    # Spark creates the staging folder when its write starts: kill mid-write
    while time.monotonic() < deadline and proc.poll() is None and not (bronze / "_staging").exists():
        time.sleep(0.01)
    assert proc.poll() is None, "ingestion finished before it could be killed"
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI and its Spark JVM, mid-write
    proc.wait()
    if DeltaTable.is_deltatable(str(bronze)):  # only if the kill landed after the commit: then it is whole
        assert len(_lake_rows(bronze, ["registry_id"])) == len(_source_rows(settings, citizen, ["registry_id"]))
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    rows = _lake_rows(bronze, ["registry_id"])
    assert len(rows) == len(set(rows)) == len(_source_rows(settings, citizen, ["registry_id"]))


def test_source_down_retries_then_names_the_server(engine, settings) -> None:
    down = dataclasses.replace(settings, postgres_url="postgresql://postgres@127.0.0.1:1")
    with pytest.raises(SourceUnavailable, match=r"population:citizen.*127.0.0.1:1/population after 2 attempt"):
        ingest_table(engine, down, source_table("population", "citizen"), batch_version=1)


@pytest.mark.parametrize(
    ("setting", "url", "table"),
    [
        ("postgres_url", "postgresql://postgres:S3cret-Pw0rd@127.0.0.1:1", ("population", "citizen")),
        ("mariadb_url", "mysql://root:S3cret-Pw0rd@127.0.0.1:1", ("transport", "driving_licence")),
    ],
    ids=["postgres", "mariadb"],
)
def test_a_source_password_never_reaches_the_error_or_the_log(engine, settings, setting, url, table, caplog) -> None:
    """The DuckDB scanners quote their connection string in errors: the password must not ride along
    into the retry warnings, the task's failure message or its traceback."""
    down = dataclasses.replace(settings, **{setting: url})
    with pytest.raises(SourceUnavailable) as failure:
        ingest_table(engine, down, source_table(*table), batch_version=1)
    shown = "".join([str(failure.value), str(failure.value.__cause__), caplog.text])
    assert "127.0.0.1:1" in str(failure.value) and "S3cret-Pw0rd" not in shown
