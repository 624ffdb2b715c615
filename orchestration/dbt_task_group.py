"""The dbt models as Airflow tasks (astronomer-cosmos): one task per model and seed, each running
`dbt build` on that node, so its tests run right after it and a failed test stops what depends on
it. The DAG is rendered from dbt's manifest (no database at parse time); dbt runs as a subprocess in
the data virtualenv through bin/dbt, which also supplies the lake paths and the pseudonym key.
Tests on several models (relationships, singular tests) run in their own task once all their parents
are built."""

from __future__ import annotations

import fcntl
import subprocess
from typing import Any

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

from data_contracts import contracts_fingerprint
from orchestration.tasks import REPO, RETRY_DEFAULTS

DBT_PROJECT = REPO / "dbt_project"
MANIFEST = DBT_PROJECT / "target" / "manifest.json"  # infra/airflow.sh init runs `bin/dbt parse`
FINGERPRINT = MANIFEST.with_name("contracts.sha256")  # written by dbt_project/runner.py with the manifest
DUCKDB_POOL = "lakehouse_duckdb"  # one slot: one writer per DuckDB file


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


def dbt_models(group_id: str = "dbt", **kwargs: Any) -> DbtTaskGroup:
    current_manifest()
    return DbtTaskGroup(
        group_id=group_id,
        project_config=ProjectConfig(
            dbt_project_path=DBT_PROJECT, manifest_path=MANIFEST, project_name="lakehouse", install_dbt_deps=False
        ),
        profile_config=ProfileConfig(
            profile_name="lakehouse", target_name="local", profiles_yml_filepath=DBT_PROJECT / "profiles.yml"
        ),
        execution_config=ExecutionConfig(
            execution_mode=ExecutionMode.LOCAL,
            invocation_mode=InvocationMode.SUBPROCESS,
            dbt_executable_path=str(REPO / "bin" / "dbt"),
            # A model's task runs only the tests on that model alone; tests spanning several models
            # (relationships, singular tests) get their own task after all their parents.
            test_indirect_selection=TestIndirectSelection.CAUTIOUS,
        ),
        render_config=RenderConfig(
            load_method=LoadMode.DBT_MANIFEST,
            test_behavior=TestBehavior.BUILD,
            should_detach_multiple_parents_tests=True,
        ),
        operator_args={"pool": DUCKDB_POOL, "install_deps": False},
        default_args={k: v for k, v in RETRY_DEFAULTS.items() if k != "retries"} | {"retries": 1},
        **kwargs,
    )
