"""Run the dbt project (bronze -> silver -> gold) in the data virtualenv."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from data_contracts import contracts_fingerprint, datasets, direct_identifier_columns
from dbt_project import generate
from lakehouse.core import lake, lineage_events
from lakehouse.core.dbt_graph import upstream_tables
from lakehouse.core.settings import REPO_ROOT, Settings, pseudonym_key

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
            # the plugin commits through lakehouse.core: the repository must be importable from dbt
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(DBT_PROJECT / "plugins"), str(REPO_ROOT), env.get("PYTHONPATH")])
            ),
        }
    )
    Path(env["DBT_DUCKDB_PATH"]).parent.mkdir(parents=True, exist_ok=True)
    return env


def dbt_vars() -> dict[str, object]:
    """dbt vars taken from the dataset contracts, so thresholds are stated once."""
    counts = {d.min_cell_count for d in datasets() if d.kind == "aggregate"}
    ks = {d.k_anonymity for d in datasets() if d.k_anonymity}
    shares = {d.population.dominance_share for d in datasets() if d.population and d.population.dominance_share}
    return {
        "min_cell_count": max(counts) if counts else 10,
        "k_anonymity": max(ks) if ks else 5,
        "vehicle_dominance_share": min(shares) if shares else 0.5,
        "direct_identifiers": sorted(direct_identifier_columns()),
    }


RUN_RESULTS = "run_results.json"
NO_VARS = {"deps", "clean", "debug", "init", "retry"}
# Beside target/manifest.json: the contracts it was generated from (the DAG re-parses when they change).
FINGERPRINT = "contracts.sha256"


def merged_results_path(settings: Settings) -> Path:
    """Every dbt node's latest result, across whole builds and per-model runs (Airflow via Cosmos)."""
    return settings.var_dir / "dbt" / RUN_RESULTS


def _merge_results(settings: Settings, target: Path) -> None:
    produced = target / RUN_RESULTS
    if not produced.exists():
        return
    merged_path = merged_results_path(settings)
    merged = json.loads(merged_path.read_text()) if merged_path.exists() else {}
    for r in json.loads(produced.read_text()).get("results", []):
        merged[r["unique_id"]] = {"status": r["status"], "at": (r.get("timing") or [{}])[-1].get("completed_at")}
    merged_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = merged_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(merged, indent=1, sort_keys=True))
    tmp.replace(merged_path)


def emit_lineage(settings: Settings, target: Path) -> None:
    """An OpenLineage event per model dbt just ran that writes a lake table: its lake inputs and its
    output, each with the Delta version it now has (lakehouse/core/lineage_events.py)."""
    produced, manifest_path = target / RUN_RESULTS, target / "manifest.json"
    if not produced.exists() or not manifest_path.exists():
        return
    manifest = json.loads(manifest_path.read_text())
    for r in json.loads(produced.read_text()).get("results", []):
        node = manifest["nodes"].get(r["unique_id"])
        location = (node or {}).get("config", {}).get("location")
        if not r["unique_id"].startswith("model.") or not location:
            continue
        lake_path = settings.lake_root / location

        def ref(rel: str) -> lineage_events.DatasetRef:
            path = settings.lake_root / rel
            return lineage_events.lake_dataset(settings, path, lake.version(path))

        lineage_events.emit(
            settings,
            f"dbt.{node['name']}",
            "COMPLETE" if r["status"] == "success" else "FAIL",
            inputs=[ref(rel) for rel in sorted(upstream_tables(manifest, r["unique_id"], transitive=False))],
            outputs=[lineage_events.lake_dataset(settings, lake_path, lake.version(lake_path))],
        )


def dbt(settings: Settings, args: list[str], extra_vars: dict | None = None) -> int:
    """Any dbt command in the data virtualenv with the project's environment, vars from the contracts
    (for commands that build) and the results merged for provenance. Airflow's Cosmos tasks call this
    through bin/dbt, so no secret reaches the Airflow side."""
    command = next((a for a in args if not a.startswith("-")), "")
    args = list(args)
    # Every parsing command gets the same vars: dbt's partial parse is dropped when they differ, and
    # the manifest Airflow renders from (`dbt parse`) would cost the build a full parse (2 s).
    if command and command not in NO_VARS and "--vars" not in args:
        args += ["--vars", json.dumps({**dbt_vars(), **(extra_vars or {})})]
    # Cosmos names the profile and target: so does every call, as they too are in the parse state.
    if command and command not in NO_VARS and "--profile" not in args:
        args += ["--profile", "lakehouse", "--target", "local"]
    if command and "--project-dir" not in args:
        args += ["--project-dir", str(DBT_PROJECT)]
    if command and "--profiles-dir" not in args:
        args += ["--profiles-dir", str(DBT_PROJECT)]
    project = Path(args[args.index("--project-dir") + 1]) if "--project-dir" in args else DBT_PROJECT
    # The models the contracts imply, for this project copy (Cosmos runs dbt in a copy of the project):
    # before every command, so contracts outside the repo (LAKEHOUSE_CONTRACTS_DIRS) work too.
    fingerprint = contracts_fingerprint()
    if command:
        generate.write(project)
    executable = Path(sys.executable).with_name("dbt")
    code = subprocess.run([str(executable), *args], env=dbt_env(settings), cwd=project, check=False).returncode
    _merge_results(settings, project / "target")
    if command in ("build", "run"):
        emit_lineage(settings, project / "target")
    if code == 0 and (project / "target" / "manifest.json").exists():
        (project / "target" / FINGERPRINT).write_text(fingerprint + "\n")
    return code


def run_dbt(
    settings: Settings, command: str = "build", select: list[str] | None = None, extra_vars: dict | None = None
) -> int:
    """`dbt <command>` over the project (or `select`); returns dbt's exit code (output on the console)."""
    return dbt(settings, [command, *(["--select", *select] if select else [])], extra_vars)
