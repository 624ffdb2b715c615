"""Run the dbt project (bronze -> silver -> gold) in the data virtualenv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from data_contracts import datasets
from data_contracts.registry import direct_identifier_columns
from lakehouse.config import REPO_ROOT, Settings, pseudonym_key

DBT_PROJECT = REPO_ROOT / "dbt_project"


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment for dbt: lake root, DuckDB file, plugin path and the pseudonym key (never logged)."""
    env = dict(os.environ)
    env.update(
        {
            "LAKE_ROOT": str(settings.lake_root),
            "LAKEHOUSE_VAR": str(settings.var_dir),
            "DBT_DUCKDB_PATH": env.get("DBT_DUCKDB_PATH") or str(settings.var_dir / "dbt" / "lakehouse.duckdb"),
            "LAKEHOUSE_PSEUDONYM_KEY": pseudonym_key(),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(DBT_PROJECT / "plugins"), env.get("PYTHONPATH")])),
        }
    )
    Path(env["DBT_DUCKDB_PATH"]).parent.mkdir(parents=True, exist_ok=True)
    return env


def dbt_vars() -> dict[str, object]:
    """dbt vars taken from the dataset contracts, so thresholds are stated once."""
    counts = {d.min_cell_count for d in datasets() if d.kind == "aggregate"}
    ks = {d.k_anonymity for d in datasets() if d.k_anonymity}
    return {
        "min_cell_count": max(counts) if counts else 10,
        "k_anonymity": max(ks) if ks else 5,
        "direct_identifiers": sorted(direct_identifier_columns()),
    }


def run_dbt(
    settings: Settings, command: str = "build", select: list[str] | None = None, extra_vars: dict | None = None
) -> int:
    """`dbt <command>` over the project; returns dbt's exit code (output streams to the console)."""
    dbt = Path(sys.executable).with_name("dbt")
    args = [str(dbt), command, "--project-dir", str(DBT_PROJECT), "--profiles-dir", str(DBT_PROJECT)]
    if command in ("build", "run", "test", "seed"):
        args += ["--vars", json.dumps({**dbt_vars(), **(extra_vars or {})})]
    if select:
        args += ["--select", *select]
    return subprocess.run(args, env=dbt_env(settings), cwd=DBT_PROJECT, check=False).returncode
