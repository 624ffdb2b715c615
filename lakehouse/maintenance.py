"""Lake upkeep the maintenance DAG runs: compaction and vacuum per zone, with the retention the
contracts state, and a freshness check of every bronze table against its contract's SLA."""

from __future__ import annotations

from pathlib import Path

from data_contracts import source_tables
from lakehouse.core import changelog, lake
from lakehouse.core.settings import Settings

ZONES = lake.ZONES
DEFAULT_RETENTION_HOURS = 168.0


class StaleData(RuntimeError):
    """A table is older than its contract's freshness SLA (a retry will not refresh it)."""


def zone_tables(settings: Settings, zone: str) -> list[tuple[Path, float]]:
    """Delta tables of a zone with their retention (hours). Bronze and quarantine follow their source
    contract; silver and gold keep the longest source retention, so time travel reaches as far back."""
    root = settings.lake_root / zone
    if zone in ("bronze", "quarantine"):
        found = []
        for t in source_tables():
            path = t.bronze_path(settings.lake_root) if zone == "bronze" else t.quarantine_path(settings.lake_root)
            if lake.is_table(path):
                found.append((path, t.retention_hours or DEFAULT_RETENTION_HOURS))
        return found
    longest = max(
        (t.retention_hours or DEFAULT_RETENTION_HOURS for t in source_tables()), default=DEFAULT_RETENTION_HOURS
    )
    return [(log.parent, longest) for log in sorted(root.glob("**/_delta_log"))] if root.exists() else []


def maintain(settings: Settings, zone: str, dry_run: bool = False) -> list[str]:
    """Collapse bronze change logs grown large, compact, then vacuum, every table of the zone; one line
    per table."""
    lines = []
    keys = {t.bronze_path(settings.lake_root): t.primary_key for t in source_tables()}
    for path, retention in zone_tables(settings, zone):
        name = path.relative_to(settings.lake_root)
        if zone == "bronze" and not dry_run and changelog.is_change_log(path):
            collapsed = changelog.collapse(path, keys[path])
            if collapsed:
                lines.append(f"{name}: change log collapsed, {collapsed[0]:,} rows -> {collapsed[1]:,} current")
        if dry_run:
            files = lake.vacuum(path, int(retention), dry_run=True)
            lines.append(f"{name}: would compact; would remove {len(files)} file(s) older than {retention:g} h")
            continue
        metrics = lake.compact(path)
        files = lake.vacuum(path, int(retention), dry_run=False)
        lines.append(
            f"{name}: compacted {metrics.get('numFilesRemoved', 0)} -> {metrics.get('numFilesAdded', 0)} file(s); "
            f"removed {len(files)} file(s) older than {retention:g} h"
        )
    return lines
