"""The dbt models as Airflow tasks (astronomer-cosmos), a task per model and seed for visibility.

Execution mode is a setting (LAKEHOUSE_DBT_EXECUTION_MODE):
- `watcher` (default): one producer task runs a single `dbt build` (CLI speed: one parse, dbt's own
  threads and ordering) and every model's task watches its outcome in dbt's JSON log, so the graph,
  per-model states, retries of a model and the gold assets stay visible in Airflow;
- `local`: every model's task runs `dbt build` on that node (each task pays dbt's start-up and parse).
The DAG is rendered from dbt's manifest (no database at parse time); dbt runs as a subprocess in the
data virtualenv through bin/dbt, which also supplies the lake paths and the pseudonym key. Tests on
several models (relationships, singular tests) run once all their parents are built."""

from __future__ import annotations

import fcntl
import os
import subprocess
from typing import Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.task.trigger_rule import TriggerRule
from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import (
    PRODUCER_WATCHER_TASK_ID,
    ExecutionMode,
    InvocationMode,
    LoadMode,
    TestBehavior,
    TestIndirectSelection,
)

from data_contracts import contracts_fingerprint
from orchestration.dbt_outcome import report_outcomes_only, start_in_triggerer
from orchestration.tasks import REPO, RETRY_DEFAULTS

DBT_PROJECT = REPO / "dbt_project"
MANIFEST = DBT_PROJECT / "target" / "manifest.json"  # infra/airflow.sh init runs `bin/dbt parse`
FINGERPRINT = MANIFEST.with_name("contracts.sha256")  # written by dbt_project/runner.py with the manifest
DUCKDB_POOL = "lakehouse_duckdb"  # one slot: one writer per DuckDB file
EXECUTION_MODES = {"watcher": ExecutionMode.WATCHER, "local": ExecutionMode.LOCAL}
IN_PROCESS = "LAKEHOUSE_AIRFLOW_IN_PROCESS"  # "1": parsed by `airflow dags test` (infra/airflow.sh test)


def execution_mode() -> ExecutionMode:
    name = os.environ.get("LAKEHOUSE_DBT_EXECUTION_MODE", "watcher").lower()
    if name not in EXECUTION_MODES:
        raise ValueError(f"LAKEHOUSE_DBT_EXECUTION_MODE={name!r}: use one of {', '.join(EXECUTION_MODES)}")
    return EXECUTION_MODES[name]


def current_manifest() -> None:
    """Re-generate the contract-driven models and re-parse dbt when the contracts changed since the
    manifest was written (a new dataset contract, another LAKEHOUSE_CONTRACTS_DIRS): the DAG renders
    the models of the contracts it sees. Runs `bin/dbt parse` in the data virtualenv, once per change."""
    wanted = contracts_fingerprint()
    if MANIFEST.exists() and FINGERPRINT.exists() and FINGERPRINT.read_text().strip() == wanted:
        return
    MANIFEST.parent.mkdir(parents=True, exist_ok=True)
    with open(MANIFEST.with_name(".parse.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # DAG processors parse in parallel: one dbt parse at a time
        if FINGERPRINT.exists() and FINGERPRINT.read_text().strip() == wanted and MANIFEST.exists():
            return
        parsed = subprocess.run(
            [str(REPO / "bin" / "dbt"), "parse", "--quiet"], capture_output=True, text=True, timeout=600, check=False
        )
        if parsed.returncode != 0:
            raise RuntimeError(f"bin/dbt parse failed after the contracts changed: {parsed.stdout[-2000:]}")


def dbt_models(group_id: str = "dbt", outlets: list | None = None, **kwargs: Any) -> DbtTaskGroup:
    """The models' task group; `outlets` (the gold assets) are emitted once the whole build succeeded."""
    current_manifest()
    mode = execution_mode()
    group = DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT, manifest_path=MANIFEST, project_name="lakehouse", install_dbt_deps=False
        ),
        profile_config=ProfileConfig(
            profile_name="lakehouse", target_name="local", profiles_yml_filepath=DBT_PROJECT / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            execution_mode=mode,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=str(REPO / "bin" / "dbt"),
            # A model's task runs only the tests on that model alone; tests spanning several models
            # (relationships, singular tests) get their own task after all their parents.
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            # watcher: the producer's build runs the tests; a task per model watches its tests' results
            test_behavior=TestBehavior.AFTER_EACH if mode == ExecutionMode.WATCHER else TestBehavior.BUILD,
            # watcher: a test on several models is reported with its models (a detached task finds no
            # status in the producer's log)
            should_detach_multiple_parents_tests=mode != ExecutionMode.WATCHER,
        ),
        # The lake assets (gold) are the DAG's own outlets: no per-model DuckDB assets from Cosmos.
        # watcher: only the producer runs dbt, so only it takes the DuckDB writer's slot (a watching
        # task holding it would starve the producer).
        operator_args={"install_deps": False, "emit_datasets": False, "deferrable": False}
        | ({} if mode == ExecutionMode.WATCHER else {"pool": DUCKDB_POOL}),
        # watcher: no retries. A retried producer skips (Cosmos runs one build per DAG run) and a retried
        # model task falls back to running its own node alone, without the upstream tests that failed:
        # a failure stays a failure until the DAG is run again.
        default_args={k: v for k, v in RETRY_DEFAULTS.items() if k != "retries"}
        | {"retries": 0 if mode == ExecutionMode.WATCHER else 1},
        **kwargs,
    )
    if mode == ExecutionMode.WATCHER:
        _after_the_producer(group, outlets or [])
    elif outlets:  # a task per model: a task after all of them emits them
        leaves = [t for t in group.iter_tasks() if not t.downstream_list]
        with group:
            leaves >> EmptyOperator(task_id="gold_built", outlets=outlets)
    return group


def _after_the_producer(group: DbtTaskGroup, outlets: list) -> None:
    """The producer holds the DuckDB slot and runs the build; each model's task only reports its model.
    The producer's success (dbt build without an error: every model built, every test passed) emits the
    `outlets`: publishing starts when the build ends, not a scheduler round trip and a task later.

    Under the scheduler a model's task starts in the triggerer when the run starts (trigger rule
    always: the edges between models are kept for the graph, not for waiting) and ends when dbt has
    reported that model: the run ends a poll after the build, whatever the depth of the dbt graph (with
    edges waited on, each level of it costs a scheduler round trip of about 3 s). No worker slot is taken
    while dbt runs. `airflow dags test` (infra/airflow.sh test sets IN_PROCESS) runs every runnable task
    one after another in one process, in no order: there the edges are waited on (`all_done`: free in
    one process), so the producer runs first and no model's task runs, and reschedules, before it (half
    the tasks of a run did, ~10 s). Each model's task shows its own success or failure (dbt skipping a
    model after an upstream failure counts as failure)."""
    tasks = list(group.iter_tasks())
    producer = next(t for t in tasks if t.task_id.endswith(PRODUCER_WATCHER_TASK_ID))
    producer.pool = DUCKDB_POOL
    producer.outlets = outlets
    report_outcomes_only(producer)
    inside = {t.task_id for t in tasks}
    for task in tasks:
        if task is producer or task.task_id.endswith(PRODUCER_WATCHER_TASK_ID + "_done"):
            continue
        # operator_args do not reach the watching sensors: without this each one registers a DuckDB
        # asset of its model (a dynamic AssetModel per task, for assets nothing consumes)
        task.emit_datasets = False
        task.trigger_rule = TriggerRule.ALL_DONE if os.environ.get(IN_PROCESS) == "1" else TriggerRule.ALWAYS
        task.mode, task.poke_interval = "reschedule", 1
        start_in_triggerer(task, producer.task_id)
        if not inside & task.upstream_task_ids:
            producer >> task
