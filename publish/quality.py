"""The quality report published with each release (`<name>.quality.json`, and DQV measurements in the
dataset's DCAT): the dbt tests on the dataset's model, how complete the released table is, and for each
source table it was built from the latest batch's quarantine rate and rules against the contract's
threshold, completeness and whether the freshness SLA was met. Only facts that change when the data or
its quality changes (no "generated now", no age in hours), so an unchanged release stays unchanged."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa

from data_contracts import Dataset, source_tables
from lakehouse import quality
from lakehouse.core.settings import Settings

METRICS = "urn:lakehouse:quality:metric:"  # DQV metric IRIs (dqv:isMeasurementOf)


def report(settings: Settings, dataset: Dataset, table: pa.Table, checks: list[dict], inputs: dict) -> dict[str, Any]:
    tests = {s: sum(1 for c in checks if c["status"] == s) for s in ("pass", "fail", "error", "warn", "not run")}
    fresh = {f.table: f for f in quality.freshness(settings)}
    sources = []
    for t in source_tables():
        if t.bronze_path(settings.lake_root).relative_to(settings.lake_root).as_posix() not in inputs:
            continue
        q = quality.source_quality(settings, t, fresh[t.qualified_name])
        sources.append(
            {
                "table": q["table"],
                "contract": q["contract"],
                "quarantine_rate": q["quarantine_rate"],
                "quarantine_threshold": q["quarantine_threshold"],
                "quarantined_by_rule": q["quarantined_by_rule"],
                "completeness_min": q["completeness_min"],
                "freshness_sla_hours": q["freshness_sla_hours"],
                "freshness_met": not fresh[t.qualified_name].stale,
            }
        )
    suppressed = table.column("suppressed").to_pylist().count(True) if "suppressed" in table.column_names else 0
    out = {
        "dataset": dataset.name,
        "dbt_tests": {"total": len(checks), **{k.replace(" ", "_"): v for k, v in tests.items()}},
        "rows": table.num_rows,
        "suppressed_share": round(suppressed / table.num_rows, 6) if table.num_rows else 0.0,
        "sources": sources,
    }
    out["measurements"] = measurements(out)
    return out


def measurements(r: dict[str, Any]) -> list[dict[str, Any]]:
    """DQV measurements (metric, value, what it is about) of a report."""
    total = r["dbt_tests"]["total"]
    out = [
        {"metric": "dbt-tests-passed-share", "value": round(r["dbt_tests"]["pass"] / total, 6) if total else 1.0},
        {"metric": "suppressed-cell-share", "value": r["suppressed_share"]},
    ]
    for s in r["sources"]:
        out.append({"metric": "quarantine-rate", "value": s["quarantine_rate"], "about": s["table"]})
        if s["completeness_min"] is not None:
            out.append({"metric": "completeness-min", "value": s["completeness_min"], "about": s["table"]})
        out.append({"metric": "freshness-sla-met", "value": s["freshness_met"], "about": s["table"]})
    return out


def write(dataset: Dataset, r: dict[str, Any], out_dir: Path) -> Path:
    path = out_dir / f"{dataset.name}.quality.json"
    path.write_text(json.dumps(r, indent=2, sort_keys=True, ensure_ascii=False) + "\n")
    return path
