"""DAG runs through real Airflow (`airflow dags test`): a stopped source is retried and then fails with
its reason; a privacy failure fails at once, without retry; a failed dbt test stops gold. One sector's
ingestion end to end runs through the scheduler (test_scheduler.py); the whole chain, test_end_to_end.py."""

from __future__ import annotations

import json
import os
import subprocess
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from data_contracts import dataset, source_tables
from lakehouse.core.settings import REPO_ROOT
from tests.bronze import write_bronze


def _dags_test(dag_id: str, var: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {
        **os.environ,
        "LAKEHOUSE_VAR": str(var),
        "LAKE_ROOT": str(var / "lake"),
        "AIRFLOW_HOME": str(var / "airflow"),
        **env,
    }
    return subprocess.run(
        ["bash", str(REPO_ROOT / "infra" / "airflow.sh"), "test", dag_id],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture
def failing_gold(tmp_path) -> Path:
    """A gold table with an unsuppressed cell of 3: the disclosure gate must refuse it."""
    ds = dataset("population_by_province_age_sex")
    gold = pa.table(
        {
            "province_code_2025": ["01", "01"],
            "province_name_2025": ["Thành phố Hà Nội"] * 2,
            "age_band": ["00-04", "05-09"],
            "sex": ["male", "male"],
            "population": pa.array([12, 3], pa.int64()),
            "suppressed": [False, False],
        }
    )
    write_deltalake(str(ds.gold_path(tmp_path / "lake")), gold)
    summary = {
        "dataset": ds.name,
        "cells": 2,
        "primary_suppressed": 0,
        "complementary_suppressed": 0,
        "smallest_published_count": 3,
        "min_cell_count": 10,
    }
    write_deltalake(str(ds.disclosure_path(tmp_path / "lake")), pa.Table.from_pylist([summary]))
    return tmp_path


def test_a_stopped_source_is_retried_and_a_privacy_failure_is_not(failing_gold) -> None:
    run = _dags_test(
        "failure_modes",
        failing_gold,
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO_ROOT / "tests" / "dags" / "fixtures"),
        MARIADB_URL="mysql://root@127.0.0.1:1",  # the transport database is down
        LAKEHOUSE_SOURCE_RETRIES="0",
    )
    assert run.returncode != 0 and "did not succeed" in run.stderr
    alerts = {
        a["task"]: a for a in map(json.loads, (failing_gold / "alerts" / "alerts.jsonl").read_text().splitlines())
    }
    down = alerts["ingest_source_down"]
    assert down["try"] == 2 and not down["permanent"]  # retried once, then failed
    assert "transport.vehicle_registration" in down["reason"] and "127.0.0.1:1" in down["reason"]
    privacy = alerts["publish_privacy_failure"]
    assert privacy["try"] == 1 and privacy["permanent"]  # retries=3 in the DAG, none used
    assert "failed the disclosure gate" in privacy["reason"] and "population_by_province_age_sex" in privacy["reason"]


def test_a_failed_dbt_test_fails_its_task_in_process_and_stops_gold(tmp_path: Path) -> None:
    """Watcher mode run in one process (`airflow dags test`; the scheduler's path, tasks ending in the
    triggerer, is tests/orchestration/test_scheduler.py): the producer runs one `dbt build`; a dbt test
    that fails (a duplicate citizen record in bronze) fails its task and the run, and the gold assets the
    publisher waits for are not emitted. A successful run in process: tests/test_end_to_end.py."""
    lake = tmp_path / "lake"
    citizen = next(t for t in source_tables() if t.qualified_name == "population.citizen")
    for table in source_tables():  # bronze as ingestion leaves it (ingestion's own tests are elsewhere)
        if table != citizen:
            write_bronze(lake, table, [])
    person = {
        "registry_id": 1,
        "citizen_id": "001096000001",
        "date_of_birth": date(1996, 3, 1),
        "sex": 1,
        "province_code": "01",
        "updated_at": datetime(2026, 5, 1, tzinfo=UTC),
        "_batch_id": "b1",
        "_ingested_at": datetime(2026, 5, 1, tzinfo=UTC),
    }
    write_bronze(lake, citizen, [person, person])  # the same registry_id twice: `unique` fails
    failed = _dags_test("lakehouse_transform", tmp_path)
    assert failed.returncode != 0 and "did not succeed" in failed.stderr
    assert failed.stdout.count("Running command: ['" + str(REPO_ROOT / "bin" / "dbt")) == 1  # one dbt build
    # the citizen staging model's task fails with the build's verdict; nothing downstream is rebuilt alone
    assert "model.lakehouse.stg_population__citizen: dbt reported fail" in failed.stdout
    # the producer, which carries the gold assets the publisher waits for, failed: they are not emitted
    producer = failed.stdout.split("starting task_id=dbt.dbt_producer_watcher")[1]
    assert "new_state=failed" in producer.split("end task task_id=dbt.dbt_producer_watcher")[0]
