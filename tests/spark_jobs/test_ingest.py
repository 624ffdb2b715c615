"""Spark JDBC ingestion from real PostgreSQL and MariaDB into bronze Delta."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pyspark.sql import SparkSession

from data_contracts import ContractError, source_table, source_tables
from infra.synthetic_sectors import seed
from lakehouse.config import Settings
from lakehouse.lake import read_table
from spark_jobs.ingest import SourceUnavailable, ingest_table
from spark_jobs.session import spark_session


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return dataclasses.replace(Settings.from_env(), lake_root=tmp_path_factory.mktemp("lake"))


@pytest.fixture(scope="module")
def seeded(settings: Settings) -> dict[str, int]:
    return seed(settings, scale=400, dirty_share=0.05, seed=7).rows


@pytest.fixture(scope="module")
def spark(settings: Settings) -> Iterator[SparkSession]:
    session = spark_session(settings, "test-ingest")
    yield session
    session.stop()


def test_every_sector_table_lands_in_bronze_with_audit_columns(spark, settings, seeded) -> None:
    for table in source_tables():
        result = ingest_table(spark, settings, table, batch_version=1)
        bronze, version = read_table(table.bronze_path(settings.lake_root))
        assert bronze.num_rows == seeded[table.qualified_name] == result.rows
        assert bronze.column_names == [c.name for c in table.columns] + ["_batch_id", "_ingested_at", "_source"]
        assert set(bronze["_source"].to_pylist()) == {table.source_label}
        assert set(bronze["_batch_id"].to_pylist()) == {result.batch_id}
        assert version == 0


def test_rerun_adds_no_duplicates_and_retry_is_a_no_op(spark, settings, seeded) -> None:
    citizen = source_table("population", "citizen")
    path = citizen.bronze_path(settings.lake_root)
    ingest_table(spark, settings, citizen, batch_version=10)
    retry = ingest_table(spark, settings, citizen, batch_version=10)
    assert retry.commit.skipped
    bronze, _ = read_table(path)
    assert bronze.num_rows == seeded["population.citizen"]
    assert not list((path / "data").glob(f"{retry.batch_id}*")), "a skipped batch leaves no files behind"


def test_schema_drift_names_contract_table_and_column(spark, settings, seeded) -> None:
    citizen = source_table("population", "citizen")
    with psycopg.connect(f"{settings.postgres_url}/population", autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS citizen_drift")
        conn.execute("CREATE TABLE citizen_drift AS SELECT * FROM citizen")
        conn.execute("ALTER TABLE citizen_drift DROP COLUMN phone")
    drifted = dataclasses.replace(citizen, table="citizen_drift")
    with pytest.raises(ContractError, match=r"urn:vn-lakehouse:source:population:citizen.*citizen_drift.*phone"):
        ingest_table(spark, settings, drifted, batch_version=1)
    assert not Path(drifted.bronze_path(settings.lake_root), "_delta_log").exists()


def test_source_down_is_a_clear_error(spark, settings) -> None:
    down = dataclasses.replace(settings, postgres_url="postgresql://postgres@127.0.0.1:1")
    with pytest.raises(SourceUnavailable, match=r"population:citizen.*cannot read postgres:population"):
        ingest_table(spark, down, source_table("population", "citizen"), batch_version=1)
