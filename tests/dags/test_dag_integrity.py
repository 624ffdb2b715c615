"""Every DAG imports cleanly, quickly and without a database, and its graph is what the contracts imply
(Airflow venv). The graph is pinned in snapshots/dag_graph.json: a contract change shows up as a diff
(refresh it with UPDATE_DAG_SNAPSHOT=1 after checking the diff)."""

from __future__ import annotations

import difflib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import patch

import pytest
from airflow.dag_processing.dagbag import DagBag

from data_contracts import datasets, source_tables

DAGS = Path(__file__).resolve().parents[2] / "dags"
SNAPSHOT = Path(__file__).parent / "snapshots" / "dag_graph.json"
IMPORT_SECONDS = 20  # Airflow's own dagbag_import_timeout is 30 s


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(DAGS))


def _schedule(dag) -> str:
    condition = getattr(dag.timetable, "asset_condition", None)
    if condition is not None and hasattr(condition, "objects"):
        return f"{type(condition).__name__}({', '.join(sorted(a.uri for a in condition.objects))})"
    if isinstance(dag.schedule, str):
        return dag.schedule
    cron = getattr(dag.timetable, "_expression", None)  # CronTriggerTimetable: the cron string, as before
    return cron if cron is not None else type(dag.timetable).__name__


def _graph(dagbag: DagBag) -> dict:
    out = {}
    for dag_id, dag in sorted(dagbag.dags.items()):
        out[dag_id] = {
            "schedule": _schedule(dag),
            "tasks": {t.task_id: sorted(t.downstream_task_ids) for t in sorted(dag.tasks, key=lambda t: t.task_id)},
        }
    return out


def test_every_dag_imports_without_errors_quickly(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    sectors = {t.sector for t in source_tables()}
    expected = {f"ingest__{s}" for s in sectors} | {
        "lakehouse_transform",
        "lakehouse_publish",
        "lakehouse_maintenance",
        "national_open_data",
    }
    assert set(dagbag.dags) == expected
    for stat in dagbag.dagbag_stats:
        assert stat.duration.total_seconds() < IMPORT_SECONDS, stat


def test_the_dag_graph_matches_the_snapshot(dagbag: DagBag) -> None:
    graph = _graph(dagbag)
    if os.environ.get("UPDATE_DAG_SNAPSHOT"):  # only on request: a deleted snapshot must fail, not pass
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(json.dumps(graph, indent=1, sort_keys=True) + "\n")
    assert SNAPSHOT.exists(), f"{SNAPSHOT} is missing: UPDATE_DAG_SNAPSHOT=1 writes it; review and commit it"
    pinned = json.loads(SNAPSHOT.read_text())
    diff = difflib.unified_diff(
        json.dumps(pinned, indent=1, sort_keys=True).splitlines(),
        json.dumps(graph, indent=1, sort_keys=True).splitlines(),
        "snapshot",
        "generated now",
        lineterm="",
    )
    assert graph == pinned, "the DAG graph changed (UPDATE_DAG_SNAPSHOT=1 to accept):\n" + "\n".join(diff)


def test_each_sector_dag_has_a_task_per_contract_table(dagbag: DagBag) -> None:
    for table in source_tables():
        task = dagbag.dags[f"ingest__{table.sector}"].get_task(table.table)
        assert task.retries == table.retries and task.owner == table.owner
        assert "--batch-version {{" in task.bash_command and "--full-refresh" in task.bash_command
        assert [a.uri for a in task.outlets] == [f"lakehouse://bronze/{table.sector}/{table.table}"]


def test_assets_link_ingestion_transform_and_publishing(dagbag: DagBag) -> None:
    transform, publish = dagbag.dags["lakehouse_transform"], dagbag.dags["lakehouse_publish"]
    bronze = {f"lakehouse://bronze/{t.sector}/{t.table}" for t in source_tables()}
    gold = {f"lakehouse://gold/{d.name}" for d in datasets()}
    assert {a.uri for a in transform.timetable.asset_condition.objects} == bronze
    # the build's success (every model built, every test passed) emits gold: the producer's outlets
    assert {a.uri for a in transform.get_task("dbt.dbt_producer_watcher").outlets} == gold
    assert {a.uri for a in publish.timetable.asset_condition.objects} == gold
    assert {t.task_id for t in publish.tasks} == {f"publish__{d.name}" for d in datasets()} | {
        "withdraw_removed_datasets"
    }


def test_dbt_models_run_as_cosmos_tasks_each_with_its_tests(dagbag: DagBag) -> None:
    """Watcher mode: one producer runs `dbt build` (the only task holding the DuckDB writer's slot);
    a task per model and per model's tests shows its outcome."""
    dag = dagbag.dags["lakehouse_transform"]
    producer = dag.get_task("dbt.dbt_producer_watcher")
    assert producer.pool == "lakehouse_duckdb"
    assert producer.dbt_executable_path.endswith("bin/dbt")  # the data venv, through the project wrapper
    watchers = [t for t in dag.tasks if t.task_id.startswith("dbt.") and t is not producer]
    assert "dbt.population__by_province_age_sex.run" in dag.task_ids
    assert "dbt.population__by_province_age_sex.test" in dag.task_ids
    assert all(t.pool != "lakehouse_duckdb" for t in watchers)
    # a retried watcher would wait for a producer that already finished: the producer's run is the retry
    assert all(t.retries == 0 for t in watchers), [t.task_id for t in watchers if t.retries]
    assert not any(getattr(t, "emit_datasets", False) for t in dag.tasks)  # gold assets are the DAG's own
    # under the scheduler each model's task starts and ends in the triggerer, from the run's start (the
    # edges between models are drawn, not waited on); run in-process it reschedules itself until the build
    reporting = [t for t in watchers if not t.task_id.endswith("_done")]
    assert all(t.start_from_trigger and t.trigger_rule == "always" for t in reporting)
    assert all(t.mode == "reschedule" for t in reporting)
    assert dag.get_task("dbt.population__by_province_age_sex.run").upstream_task_ids  # the graph stays


def test_the_local_execution_mode_is_a_setting(monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_DBT_EXECUTION_MODE", "local")
    dag = DagBag(dag_folder=str(DAGS)).dags["lakehouse_transform"]
    builds = [t for t in dag.tasks if t.task_id.endswith("_build")]
    assert any("population__by_province_age_sex" in t.task_id for t in builds)
    assert all(t.pool == "lakehouse_duckdb" and t.dbt_executable_path.endswith("bin/dbt") for t in builds)


def test_the_chain_runs_ingest_then_dbt_then_publish(dagbag: DagBag) -> None:
    dag = dagbag.dags["national_open_data"]
    ingest = {t.task_id for t in dag.tasks if t.task_id.startswith("ingest__")}
    assert ingest == {f"ingest__{t.sector}__{t.table}" for t in source_tables()}
    first_dbt = {d for t in ingest for d in dag.get_task(t).downstream_task_ids}
    assert first_dbt and all(d.startswith("dbt.") for d in first_dbt)
    assert dag.params["full_refresh"] is False and dag.params["full_refresh_tables"] == []


def test_a_sector_added_by_yaml_gets_its_dag_with_no_python_edit(monkeypatch) -> None:
    """Its ingestion DAG, built as a task's process builds it (the dbt graph, and the manifest parse a
    new contract set implies, are not needed for it). A YAML-only sector through the whole chain,
    national_open_data included: tests/test_end_to_end.py."""
    from airflow.sdk.definitions._internal.dag_parsing_context import _airflow_parsing_context_manager

    monkeypatch.setenv("LAKEHOUSE_CONTRACTS_DIRS", str(DAGS.parent / "tests" / "fixtures" / "contracts"))
    with _airflow_parsing_context_manager(dag_id="ingest__agriculture", task_id="any"):
        bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {} and "farm_holding" in bag.dags["ingest__agriculture"].task_ids


def test_no_secret_in_dag_code_or_rendered_commands(dagbag: DagBag) -> None:
    text = "\n".join(t.bash_command for d in dagbag.dags.values() for t in d.tasks if hasattr(t, "bash_command"))
    text += "".join(p.read_text() for p in DAGS.glob("*.py"))
    for secret in ("PSEUDONYM_KEY", "api_token", "password", "CKAN_API_TOKEN"):
        assert secret.lower() not in text.lower()


def test_unpausing_just_after_midnight_waits_for_the_next_tick(dagbag: DagBag) -> None:
    """A daily DAG unpaused at 00:05 does not run the missed 00:00 tick (Airflow's default would,
    within 10% of the period), so it never doubles a manual run."""
    from airflow.timetables import trigger
    from airflow.timetables.base import TimeRestriction

    after_midnight = datetime(2026, 12, 2, 0, 5, tzinfo=UTC)
    for dag_id, dag in dagbag.dags.items():
        if not isinstance(dag.timetable, trigger.CronTriggerTimetable):
            continue
        with patch.object(trigger, "utcnow", return_value=after_midnight):
            info = dag.timetable.next_dagrun_info(
                last_automated_data_interval=None, restriction=TimeRestriction(None, None, catchup=False)
            )
        assert info is not None and info.run_after > after_midnight, (dag_id, info)


def test_a_task_process_builds_only_its_own_dag(dagbag: DagBag) -> None:
    """Airflow tells a task's process which DAG it runs: the DAG file then builds that one alone (a task
    start does not render the dbt graph for two other DAGs), and the same DAG as the full parse."""
    from airflow.sdk.definitions._internal.dag_parsing_context import _airflow_parsing_context_manager

    for dag_id in ("ingest__population", "lakehouse_transform"):
        with _airflow_parsing_context_manager(dag_id=dag_id, task_id="any"):
            alone = DagBag(dag_folder=str(DAGS))
        assert set(alone.dags) == {dag_id}
        assert {t.task_id for t in alone.dags[dag_id].tasks} == {t.task_id for t in dagbag.dags[dag_id].tasks}
    assert len(dagbag.dags) > 5  # without a context: every DAG
