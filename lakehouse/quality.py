"""Data quality as the contracts define it, measured on the lake: per source table the quarantine rate
by rule over time (each ingested batch recorded), freshness against the SLA, completeness of every
column; used by `bin/lakehouse quality`, the maintenance DAG's freshness check and the quality report
published with each release (publish/quality.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from data_contracts import SourceTable, source_tables
from lakehouse.core import changelog, lake
from lakehouse.core.settings import Settings

HISTORY = "quality_history.jsonl"  # lake/_governance/: one line per ingested batch


@dataclass(frozen=True)
class Freshness:
    table: str
    path: Path
    age_hours: float | None  # None: never ingested
    sla_hours: float

    @property
    def stale(self) -> bool:
        return self.age_hours is None or self.age_hours > self.sla_hours


def freshness(settings: Settings, now: datetime | None = None) -> list[Freshness]:
    now = now or datetime.now(UTC)
    out = []
    for t in source_tables():
        path = t.bronze_path(settings.lake_root)
        sla = t.freshness_hours or 24.0
        committed = lake.last_commit_at(path)
        age = None if committed is None else (now.timestamp() - committed) / 3600
        out.append(Freshness(t.qualified_name, path, age, sla))
    return out


def rejected_by_rule(bad_files: list[Path], reason_column: str) -> dict[str, int]:
    """Rows rejected per contract rule in a batch's quarantine files (a hive-style folder per reason,
    "<rule>: <what failed>")."""
    import pyarrow.parquet as pq

    counts: dict[str, int] = {}
    prefix = f"{reason_column}="
    for f in bad_files:
        folder = next((p for p in f.parts if p.startswith(prefix)), None)
        rule = unquote(folder[len(prefix) :]).split(":", 1)[0] if folder else "unknown"
        counts[rule] = counts.get(rule, 0) + pq.read_metadata(f).num_rows
    return counts


def record_batch(
    settings: Settings, table: SourceTable, batch_id: str, rows_read: int, rows_quarantined: int, by_rule: dict
) -> None:
    """Append one batch's quality facts (what the quarantine rate over time is computed from)."""
    path = lake.governance_dir(settings.lake_root) / HISTORY
    path.parent.mkdir(parents=True, exist_ok=True)
    line = {
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "table": table.qualified_name,
        "contract": table.contract_id,
        "batch_id": batch_id,
        "rows_read": rows_read,
        "rows_quarantined": rows_quarantined,
        "by_rule": by_rule,
        "threshold": table.policy.quarantine_threshold,
    }
    with path.open("a") as f:
        f.write(json.dumps(line, sort_keys=True) + "\n")


def history(settings: Settings, table: str | None = None) -> list[dict[str, Any]]:
    path = lake.governance_dir(settings.lake_root) / HISTORY
    if not path.exists():
        return []
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip()]
    return [x for x in lines if table is None or x["table"] == table]


def completeness(table: SourceTable, lake_root: Path) -> dict[str, float]:
    """Share of non-empty values per contract column in the table's current rows (bronze)."""
    import duckdb

    path = table.bronze_path(lake_root)
    if not lake.is_table(path):
        return {}
    rows = (
        changelog.read_current(path, table.primary_key)
        if changelog.is_change_log(path)
        else lake.open_table(path).to_pyarrow_dataset()
    )
    con = duckdb.connect()
    con.register("t", rows)
    names = [c.name for c in table.columns if c.name in set(rows.schema.names)]
    if not names:
        return {}
    counted = con.execute("SELECT count(*), " + ", ".join(f'count("{n}")' for n in names) + " FROM t").fetchone()
    total = counted[0] or 0
    return {n: (counted[i + 1] / total if total else 1.0) for i, n in enumerate(names)}


def source_quality(settings: Settings, table: SourceTable, fresh: Freshness | None = None) -> dict[str, Any]:
    """One source table's quality: latest batch's quarantine rate and rules, its trend, freshness vs the
    SLA, completeness; `met` when within the contract's threshold and SLA."""
    # batches that read rows: an incremental run over an unchanged source reads none and says nothing
    batches = [b for b in history(settings, table.qualified_name) if b["rows_read"]]
    latest = batches[-1] if batches else None
    rate = (latest["rows_quarantined"] / latest["rows_read"]) if latest and latest["rows_read"] else 0.0
    fresh = fresh or next(f for f in freshness(settings) if f.table == table.qualified_name)
    filled = completeness(table, settings.lake_root)
    # the worst column among those the contract requires (an optional column, a soft-delete marker, is
    # rightly empty); every column when none is required
    required = {c.name for c in table.columns if c.required} & set(filled) or set(filled)
    return {
        "table": table.qualified_name,
        "contract": table.contract_id,
        "batches": len(batches),
        "quarantine_rate": round(rate, 6),
        "quarantine_threshold": table.policy.quarantine_threshold,
        "quarantined_by_rule": latest["by_rule"] if latest else {},
        "quarantine_rate_over_time": [
            {"at": b["at"], "rate": round(b["rows_quarantined"] / b["rows_read"], 6) if b["rows_read"] else 0.0}
            for b in batches[-30:]
        ],
        "freshness_hours": None if fresh.age_hours is None else round(fresh.age_hours, 2),
        "freshness_sla_hours": fresh.sla_hours,
        "completeness": {k: round(v, 6) for k, v in filled.items()},
        "completeness_min": round(min(filled[c] for c in required), 6) if required else None,
        "completeness_worst": min(required, key=lambda c: (filled[c], c)) if required else None,
        # None: no batch measured yet (ingested before quality was recorded, or never)
        "met": None if latest is None else rate <= table.policy.quarantine_threshold and not fresh.stale,
    }
