"""The right to erasure (Law 91/2025 on personal data protection): a citizen removed from the lake.

`lakehouse erasure request` records the citizen on the erasure list (lakehouse/core/erasure_list.py: a
keyed hash, never the ID) and applies it:
1. every row about the person leaves bronze and quarantine (the contract's `personKey` column) and
   silver (`person_pseudonym`): each table rewritten in one commit that carries ingestion's bookkeeping;
2. those tables' history is purged: the files of earlier versions are deleted (vacuum with no retention)
   and the transaction log before the rewrite is dropped (it holds file statistics, minimum and maximum
   values, which can be the person's ID), so no earlier version can be read back;
3. gold is rebuilt (dbt) and published again, which releases only the datasets whose contents changed;
4. an audit record is appended (request numbers, times, rows removed per table: no ID, no hash).
Ingestion honours the list: the person's rows are never read into bronze again although the source
still holds them (the sector database is its controller's to erase). A request that failed midway
stays pending; `lakehouse erasure apply` finishes it."""

from __future__ import annotations

import logging
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from data_contracts import SourceTable, datasets, source_tables
from dbt_project.runner import run_dbt
from lakehouse.core import lake
from lakehouse.core.erasure_list import append, hash_sql, pseudonym, requests, requests_path
from lakehouse.core.settings import Settings

log = logging.getLogger(__name__)

PERSON = "person_pseudonym"  # silver's person column (dbt_project/macros/lakehouse.sql)
AUDIT = "erasure_audit.jsonl"


@dataclass
class Outcome:
    request_ids: list[str]
    rows_removed: dict[str, int] = field(default_factory=dict)
    files_purged: int = 0
    published: list[str] = field(default_factory=list)


def _purge_rows(path: Path, match_sql: str, request_ids: list[str]) -> int:
    """Rewrite `path` without the rows `match_sql` selects (one overwrite commit carrying the table's
    `lakehouse.*` bookkeeping); the number of rows removed."""
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq

    from lakehouse.core.commit import carried_metadata, commit_parquet_files

    table = lake.open_table(path)
    con = duckdb.connect()
    con.register("t", table.to_pyarrow_dataset())
    removed = con.execute(f"SELECT count(*) FROM t WHERE {match_sql}").fetchone()[0]
    if not removed:
        return 0
    partitions = list(table.metadata().partition_columns)
    out = path / "data" / f"erasure-{uuid.uuid4().hex[:8]}"
    by = f", PARTITION_BY ({', '.join(partitions)})" if partitions else ""
    try:
        kept = f"SELECT * FROM t WHERE ({match_sql}) IS NOT TRUE"
        out.mkdir(parents=True)
        target = out if partitions else out / "part-0.parquet"  # partitioned: a folder per value
        con.execute(f"COPY ({kept}) TO '{target}' (FORMAT parquet, COMPRESSION zstd{by})")
        files = sorted(out.rglob("*.parquet"))
        if not files:  # the person was every row: an empty file keeps the table and its schema
            # the table's own schema: DuckDB's would carry its session time zone ("Etc/UTC"), which
            # Delta refuses for a timestamp column
            empty = pa.schema(table.schema().to_arrow()).empty_table()
            empty = empty.drop_columns([c for c in partitions if c in empty.column_names])
            pq.write_table(empty, out / "empty.parquet")
            files = [out / "empty.parquet"]
        commit_parquet_files(
            path,
            files,
            app_id="erasure",
            batch_version=int(datetime.now(UTC).timestamp() * 1000),
            mode="overwrite",
            partition_by=partitions,
            metadata={**carried_metadata(table), "lakehouse.erasure_requests": ",".join(request_ids)},
        )
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise
    return int(removed)


def purge_history(path: Path) -> int:
    """Delete every file no longer in the table's current version, and the log before it: the table can
    no longer be read at an earlier version. The number of data files deleted."""
    table = lake.open_table(path)
    deleted = table.vacuum(retention_hours=0, enforce_retention_duration=False, dry_run=False)
    table = lake.open_table(path)
    kept = table.metadata().configuration.get("delta.logRetentionDuration")
    table.alter.set_table_properties({"delta.logRetentionDuration": "interval 0 seconds"})
    table = lake.open_table(path)
    table.create_checkpoint()
    table.cleanup_metadata()
    table.alter.set_table_properties({"delta.logRetentionDuration": kept or "interval 30 days"})
    return len(deleted)


def _person_tables(settings: Settings) -> list[tuple[Path, str, SourceTable | None]]:
    """(table, its person column, source contract) of bronze, quarantine and silver."""
    out: list[tuple[Path, str, SourceTable | None]] = []
    for t in source_tables():
        if t.person_key is None:
            continue
        for path in (t.bronze_path(settings.lake_root), t.quarantine_path(settings.lake_root)):
            if lake.is_table(path):
                out.append((path, t.person_key.name, t))
    silver = settings.lake_root / lake.relative("silver")
    for log_dir in sorted(silver.glob("*/*/_delta_log")) if silver.exists() else []:
        path = log_dir.parent
        if PERSON in lake.open_table(path).schema().to_arrow().names:
            out.append((path, PERSON, None))
    return out


def apply(settings: Settings, citizen_ids: list[str] | None = None, publish: bool = True) -> Outcome:
    """Carry out the pending requests: purge, rebuild gold, publish, audit. `citizen_ids` (known only
    while a request is being made) also purges silver by pseudonym; without them silver is rebuilt from
    the purged bronze and its history purged, which removes the person just the same."""
    pending = [r for r in requests(settings) if r.completed_at is None]
    outcome = Outcome([r.request_id for r in pending])
    if not pending:
        return outcome
    hashes = ", ".join(f"'{r.subject_hash}'" for r in pending)
    pseudonyms = ", ".join(f"'{pseudonym(c)}'" for c in citizen_ids or [])
    for path, column, contract in _person_tables(settings):
        if contract is not None:
            match = f"{hash_sql(column, 'duckdb')} IN ({hashes})"
        elif pseudonyms:
            match = f"{column} IN ({pseudonyms})"
        else:
            continue
        removed = _purge_rows(path, match, outcome.request_ids)
        name = path.relative_to(settings.lake_root).as_posix()
        if removed:
            outcome.rows_removed[name] = removed
        outcome.files_purged += purge_history(path)
        log.info("erasure: %s: %d row(s) removed, history purged", name, removed)

    if run_dbt(settings, "build") != 0:
        raise RuntimeError(
            "erasure: bronze, quarantine and silver are purged, but rebuilding gold (dbt build) "
            "failed; the request stays pending: fix the build and run `lakehouse erasure apply`"
        )
    for path, _, contract in _person_tables(settings):
        if contract is None:  # silver as rebuilt: no earlier version (with the person) stays readable
            outcome.files_purged += purge_history(path)
    if publish:
        from publish.ckan_portal import publish_all  # CKAN's client only when publishing

        for result in publish_all(settings, datasets()):
            outcome.published.extend(result.lines())
    done = datetime.now(UTC).isoformat(timespec="seconds")
    for r in pending:
        append(requests_path(settings), {**asdict(r), "completed_at": done})
    append(
        lake.governance_dir(settings.lake_root) / AUDIT,
        {
            "requests": outcome.request_ids,
            "completed_at": done,
            "rows_removed": outcome.rows_removed,
            "files_purged": outcome.files_purged,
            "republished": publish,
        },
    )
    return outcome
