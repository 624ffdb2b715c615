"""Which lake tables (and Delta versions) a gold dataset was built from, read from dbt's manifest."""

from __future__ import annotations

import json
from pathlib import Path

from deltalake import DeltaTable

from data_contracts import Dataset
from lakehouse.config import REPO_ROOT

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
    seen, todo, paths = set(), list(m["parent_map"].get(start, [])), set()
    while todo:
        node = todo.pop()
        if node in seen:
            continue
        seen.add(node)
        if node.startswith("source."):
            src = m["sources"][node]
            paths.add(f"bronze/{src['source_name'].removeprefix('bronze_')}/{src['name']}")
        elif node.startswith("model."):
            location = m["nodes"][node]["config"].get("location")
            if location:
                paths.add(location)
            todo.extend(m["parent_map"].get(node, []))
    out: dict[str, int | None] = {}
    for rel in sorted(paths):
        path = lake_root / rel
        out[rel] = DeltaTable(str(path)).version() if DeltaTable.is_deltatable(str(path)) else None
    return out
