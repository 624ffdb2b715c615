"""Which lake tables (and Delta versions) a gold dataset was built from, read from dbt's manifest."""

from __future__ import annotations

import json
from pathlib import Path

from data_contracts import Dataset
from lakehouse.core import lake
from lakehouse.core.dbt_graph import upstream_tables
from lakehouse.core.settings import REPO_ROOT

MANIFEST = REPO_ROOT / "dbt_project" / "target" / "manifest.json"


def input_versions(dataset: Dataset, lake_root: Path, manifest: Path = MANIFEST) -> dict[str, int | None]:
    """Lake path (relative to the lake root) -> current Delta version, for every Delta table upstream of
    the dataset's dbt model: silver models and bronze sources. Empty when dbt has not built yet."""
    if not manifest.exists():
        return {}
    m = json.loads(manifest.read_text())
    start = next((k for k in m["nodes"] if k.endswith(f".{dataset.dbt_model}")), None)
    if start is None:
        return {}
    paths = upstream_tables(m, start)
    out: dict[str, int | None] = {}
    for rel in sorted(paths):
        out[rel] = lake.version(lake_root / rel)
    return out


def model_checks(dataset: Dataset, results: Path | None = None, target: Path = MANIFEST.parent) -> list[dict[str, str]]:
    """The dbt tests attached to the dataset's model, with their latest status: from the results every
    dbt invocation merges into `results` (var/dbt/run_results.json: whole builds and Airflow's per-model
    runs alike), else dbt's own run_results.json; 'not run' when neither has it."""
    manifest = target / "manifest.json"
    if not manifest.exists():
        return []
    m = json.loads(manifest.read_text())
    model = next((k for k in m["nodes"] if k.startswith("model.") and k.endswith(f".{dataset.dbt_model}")), None)
    if model is None:
        return []
    status: dict[str, str] = {}
    if (target / "run_results.json").exists():
        status = {r["unique_id"]: r["status"] for r in json.loads((target / "run_results.json").read_text())["results"]}
    if results is not None and results.exists():
        status.update({k: v["status"] for k, v in json.loads(results.read_text()).items()})
    tests = [t for t in m.get("child_map", {}).get(model, []) if t.startswith("test.")]
    return sorted(
        ({"check": m["nodes"][t]["name"], "status": status.get(t, "not run")} for t in tests if t in m["nodes"]),
        key=lambda c: c["check"],
    )
