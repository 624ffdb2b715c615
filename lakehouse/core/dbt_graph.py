"""The lake tables upstream of a dbt node, read from dbt's manifest: bronze sources and the locations
of Delta models (views have none). Used for provenance (publish/lineage.py) and lineage events
(dbt_project/runner.py)."""

from __future__ import annotations

from typing import Any

from lakehouse.core import lake


def upstream_tables(manifest: dict[str, Any], node: str, transitive: bool = True) -> set[str]:
    """Lake paths (relative to the lake root) above `node`. `transitive`: every one up to the sources;
    otherwise only the nearest (the tables the node reads, looking through views)."""
    found: set[str] = set()
    todo, seen = list(manifest["parent_map"].get(node, [])), set()
    while todo:
        parent = todo.pop()
        if parent in seen:
            continue
        seen.add(parent)
        if parent.startswith("source."):
            src = manifest["sources"][parent]
            found.add(lake.relative("bronze", src["source_name"].removeprefix("bronze_"), src["name"]))
        elif parent.startswith("model."):
            location = manifest["nodes"][parent]["config"].get("location")
            if location:
                found.add(location)
            if transitive or not location:
                todo.extend(manifest["parent_map"].get(parent, []))
    return found
