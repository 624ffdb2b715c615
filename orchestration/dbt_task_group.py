"""The dbt models as Airflow tasks (astronomer-cosmos): one task per model and seed, each running
`dbt build` on that node, so its tests run right after it and a failed test stops what depends on
it. The DAG is rendered from dbt's manifest (no database at parse time); dbt runs as a subprocess in
the data virtualenv through bin/dbt, which also supplies the lake paths and the pseudonym key.
Tests on several models (relationships, singular tests) run in their own task once all their parents
are built."""

from __future__ import annotations

from typing import Any

from cosmos import DbtTaskGroup, ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import ExecutionMode, InvocationMode, LoadMode, TestBehavior, TestIndirectSelection

from orchestration.tasks import REPO, RETRY_DEFAULTS

DBT_PROJECT = REPO / "dbt_project"
MANIFEST = DBT_PROJECT / "target" / "manifest.json"  # infra/airflow.sh init runs `bin/dbt parse`
DUCKDB_POOL = "lakehouse_duckdb"  # one slot: one writer per DuckDB file


def dbt_models(group_id: str = "dbt", **kwargs: Any) -> DbtTaskGroup:
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
