"""The release log: which gold versions the publisher released, and a copy of what each one published.

gold/ holds builds; a *release* is a gold version that passed the disclosure gate and reached the
portal. This log is the one record of them, read by the disclosure audit (an intruder holds every
earlier release, so the next one is judged against them all) and by the SQL gateway (time travel over
gold reaches released versions only). It lives in the lake, beside the tables it describes:

    <lake>/gold/_releases/<dataset>.jsonl             one JSON line per release (append-only)
    <lake>/gold/_releases/<dataset>/v<version>.parquet the rows that release published

The copy is kept because Delta history is vacuumed after its retention, while what was released stays
public for ever and must stay auditable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse.core import jsonl
from lakehouse.core.lake import releases_dir

__all__ = ["Release", "datasets_released", "read_release", "record", "released", "released_versions", "releases_dir"]


@dataclass(frozen=True)
class Release:
    dataset: str
    gold_version: int
    released_at: str
    facts: dict[str, Any]

    def data_path(self, lake_root: Path) -> Path:
        return releases_dir(lake_root) / self.dataset / f"v{self.gold_version}.parquet"


def _log(lake_root: Path, dataset: str) -> Path:
    return releases_dir(lake_root) / f"{dataset}.jsonl"


def released(lake_root: Path, dataset: str) -> list[Release]:
    """Every release of `dataset`, oldest first (one per gold version)."""
    seen: dict[int, Release] = {}
    for raw in jsonl.read(_log(lake_root, dataset)):
        seen.setdefault(
            int(raw["gold_version"]),
            Release(raw["dataset"], int(raw["gold_version"]), raw["released_at"], raw.get("facts", {})),
        )
    return sorted(seen.values(), key=lambda r: r.gold_version)


def released_versions(lake_root: Path, dataset: str) -> set[int]:
    return {r.gold_version for r in released(lake_root, dataset)}


def datasets_released(lake_root: Path) -> list[str]:
    root = releases_dir(lake_root)
    return sorted(p.stem for p in root.glob("*.jsonl")) if root.exists() else []


def read_release(lake_root: Path, release: Release) -> pa.Table:
    """The rows a release published."""
    return pq.read_table(release.data_path(lake_root))


def record(
    lake_root: Path, dataset: str, gold_version: int, table: pa.Table, facts: dict[str, Any] | None = None
) -> Release:
    """Record that `gold_version` of `dataset` was released with these rows (idempotent per version).

    The copy is written first and the log line last, so a crash between them leaves no line claiming
    a release whose rows are missing."""
    existing = next((r for r in released(lake_root, dataset) if r.gold_version == gold_version), None)
    if existing is not None:
        return existing
    release = Release(dataset, gold_version, datetime.now(UTC).isoformat(timespec="seconds"), dict(facts or {}))
    data = release.data_path(lake_root)
    data.parent.mkdir(parents=True, exist_ok=True)
    tmp = data.with_suffix(".parquet.tmp")
    pq.write_table(table, tmp)
    os.replace(tmp, data)
    line = {
        "dataset": dataset,
        "gold_version": gold_version,
        "released_at": release.released_at,
        "facts": release.facts,
    }
    jsonl.append(_log(lake_root, dataset), line)
    return release
