"""A DAG run through the real scheduler (airflow standalone: scheduler, DAG processor, API server,
LocalExecutor) on a PostgreSQL metadata database, triggered through the REST API."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from deltalake import DeltaTable, write_deltalake

from data_contracts import datasets, source_tables
from lakehouse.core.lake import read_table
from lakehouse.core.settings import REPO_ROOT, Settings
from synthetic.sectors import seed

SCRIPT = str(REPO_ROOT / "infra" / "airflow.sh")


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory) -> Iterator[dict[str, str]]:
    var = tmp_path_factory.mktemp("scheduled")
    env = {
        **os.environ,
        "LAKEHOUSE_VAR": str(var),
        "LAKE_ROOT": str(var / "lake"),
        "AIRFLOW_PORT": os.environ.get("TEST_AIRFLOW_PORT", "8093"),
        "AIRFLOW_PG_DB": os.environ.get("TEST_AIRFLOW_DB", "airflow_test"),
        "AIRFLOW_SERVER_HOME": str(var / "airflow-server"),
    }
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", env["AIRFLOW_PG_DB"]], check=True)
    env["TEST_STARTED_AT"] = datetime.now(UTC).isoformat()
    subprocess.run(["bash", SCRIPT, "start"], env=env, check=True, timeout=300)
    yield env
    subprocess.run(["bash", SCRIPT, "stop"], env=env, check=False, timeout=120)


def test_a_run_triggered_through_the_rest_api_succeeds(scheduler) -> None:
    """One sector's ingestion DAG end to end: every table lands in bronze at its first version, no alert."""
    lake = Path(scheduler["LAKE_ROOT"])
    seed(dataclasses.replace(Settings.from_env(), lake_root=lake), scale=300, dirty_share=0.0, seed=3)
    run = subprocess.run(
        ["bash", SCRIPT, "api", "trigger", "ingest__transport", "--wait", "--timeout", "600"],
        env=scheduler,
        capture_output=True,
        text=True,
        timeout=700,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "ingest__transport" in run.stdout and ": success" in run.stdout
    for table in (t for t in source_tables() if t.sector == "transport"):
        bronze = DeltaTable(str(table.bronze_path(lake)))
        assert bronze.version() == 0 and bronze.history(1)[0]["operation"], table.qualified_name
    assert not (Path(scheduler["LAKEHOUSE_VAR"]) / "alerts" / "alerts.jsonl").exists()
    database = subprocess.run(
        [
            "psql",
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            scheduler["AIRFLOW_PG_DB"],
            "-tAc",
            "SELECT run_type || ' ' || state || ' ' || extract(epoch FROM run_after) FROM dag_run "
            "WHERE dag_id = 'ingest__transport'",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    # The metadata lives in PostgreSQL; unpausing did not add a catch-up run beside the manual one. A
    # scheduled run is allowed only for a tick that fell during the test (it ran across midnight).
    runs = [line.split() for line in database.stdout.splitlines() if line.strip()]
    assert [(kind, state) for kind, state, _ in runs if kind == "manual"] == [("manual", "success")]
    started = datetime.fromisoformat(scheduler["TEST_STARTED_AT"]).timestamp()
    catch_up = [r for r in runs if r[0] == "scheduled" and float(r[2]) < started]
    assert not catch_up, f"a missed interval was run on unpause: {catch_up}"


def _timeline(env: dict[str, str]) -> dict[str, tuple[str, str]]:
    """task id -> (state, queued to an executor or '-') of the transform DAG's latest run."""
    listed = subprocess.run(
        ["bash", SCRIPT, "api", "timeline", "lakehouse_transform"], env=env, capture_output=True, text=True, check=True
    )
    rows = [line.split() for line in listed.stdout.splitlines() if line.strip()]
    return {r[4]: (r[3], r[0]) for r in rows}


def _asset_events(env: dict[str, str]) -> list[str]:
    """The asset events of the latest lakehouse_transform run."""
    listed = subprocess.run(
        ["bash", SCRIPT, "api", "events", "lakehouse_transform"], env=env, capture_output=True, text=True, check=True
    )
    return listed.stdout.split()


def test_dbt_models_are_reported_from_the_triggerer_and_a_failed_test_ends_the_run(scheduler) -> None:
    """Through the scheduler, one producer runs `dbt build`; each model's task starts and ends in the
    triggerer (never queued to a worker). A failing dbt test fails its task, the models after it and
    the run, which ends (no task left waiting for a build that is over)."""
    settings = dataclasses.replace(Settings.from_env(), lake_root=Path(scheduler["LAKE_ROOT"]))
    seed(settings, scale=300, dirty_share=0.0, seed=23)
    lakehouse = str(REPO_ROOT / "bin" / "lakehouse")
    subprocess.run([lakehouse, "ingest"], env=scheduler, check=True, capture_output=True, timeout=600)

    def transform() -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", SCRIPT, "api", "trigger", "lakehouse_transform", "--wait", "--timeout", "600"],
            env=scheduler,
            capture_output=True,
            text=True,
            timeout=700,
        )

    built = transform()
    assert built.returncode == 0, built.stdout + built.stderr
    tasks = _timeline(scheduler)
    models = {t: v for t, v in tasks.items() if t.startswith("dbt.") and "producer" not in t}
    assert len(models) > 30 and all(state == "success" for state, _ in models.values()), models
    assert all(queued == "-" for _, queued in models.values())  # no worker process per model
    assert tasks["dbt.dbt_producer_watcher"][1] != "-"
    gold = {f"lakehouse://gold/{d.name}" for d in datasets()}
    assert set(_asset_events(scheduler)) == gold  # what the publisher waits for

    citizen = next(t for t in source_tables() if t.qualified_name == "population.citizen").bronze_path(
        settings.lake_root
    )
    write_deltalake(str(citizen), read_table(citizen)[0].slice(0, 1), mode="append")  # `unique` fails
    failed = transform()
    assert failed.returncode != 0 and ": failed" in failed.stdout, failed.stdout + failed.stderr
    tasks = _timeline(scheduler)
    assert tasks["dbt.stg_population__citizen.test"][0] == "failed"
    assert tasks["dbt.population__by_province_age_sex.run"][0] == "failed"  # dbt skipped it: not built
    assert _asset_events(scheduler) == []  # no gold asset for the publisher
    assert tasks["dbt.stg_transport__vehicle_registration_run"][0] == "success"  # its own outcome
