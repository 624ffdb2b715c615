"""Every DAG imports cleanly and its tasks are exactly what the contracts imply (Airflow venv)."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.dag_processing.dagbag import DagBag

from data_contracts import datasets, source_tables

DAGS = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def test_no_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert dagbag.dags


def test_national_open_data_graph_follows_contracts(dagbag: DagBag) -> None:
    dag = dagbag.dags["national_open_data"]
    ingest = {f"ingest__{t.sector}" for t in source_tables()}
    publish = {f"publish__{d.name}" for d in datasets()}
    assert {t.task_id for t in dag.tasks} == ingest | {"transform", "withdraw_removed_datasets"} | publish
    transform = dag.get_task("transform")
    assert transform.upstream_task_ids == ingest
    assert transform.downstream_task_ids == publish | {"withdraw_removed_datasets"}
    for task in dag.tasks:
        assert task.retries >= 1
        assert "bin/lakehouse" in task.bash_command


def test_ingest_tasks_pass_a_stable_batch_version(dagbag: DagBag) -> None:
    dag = dagbag.dags["national_open_data"]
    for task in dag.tasks:
        if task.task_id.startswith("ingest__"):
            assert "--batch-version {{" in task.bash_command


def test_a_sector_added_by_yaml_gets_its_ingest_task(monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_CONTRACTS_DIRS", str(DAGS.parent / "tests" / "fixtures" / "contracts"))
    dag = DagBag(dag_folder=str(DAGS)).dags["national_open_data"]
    assert "ingest__agriculture" in dag.task_ids
    assert "ingest__agriculture" in dag.get_task("transform").upstream_task_ids


def test_full_refresh_is_a_run_parameter(dagbag: DagBag) -> None:
    dag = dagbag.dags["national_open_data"]
    assert dag.params["full_refresh"] is False
    assert "--full-refresh" in dag.get_task("ingest__population").bash_command
