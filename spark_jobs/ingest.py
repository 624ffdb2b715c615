"""Contract-driven ingestion: one sector table -> bronze Delta, through an engine (source.py): DuckDB's
scanners on one machine, Spark JDBC on a cluster; the steps below are the same for both.

A run is a batch with a version number (the DAG derives it from its run). For each table:
1. plan: the watermark window (incremental: after the last committed high-water mark, up to the
   source's current maximum) and the partition bounds, in one small query at the source;
2. the engine reads the window, compares the source columns and types with the contract and applies
   its drift policy;
3. it checks the contract's quality rules row by row and writes good rows and rejected rows (with
   their reasons) as Parquet, once;
4. if the rejected share is over the contract's threshold, commit the quarantine only and fail:
   bronze stays at its version;
5. commit: full mode replaces the bronze snapshot (add actions, one commit); incremental mode appends
   the batch to bronze's change log (lakehouse/core/changelog.py) with tombstones for the deletes the
   contract's delete detection found (soft-delete column; change data capture, cdc.py, read before
   step 2; or a key comparison). Every commit carries txn(app id, batch version), so a finished batch
   is never applied twice and a rerun after a crash completes it.
"""

from __future__ import annotations

import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from data_contracts import SourceTable
from lakehouse import quality
from lakehouse.core import lake, lineage_events
from lakehouse.core.commit import CommitResult, commit_parquet_files
from lakehouse.core.settings import Settings
from spark_jobs import cdc
from spark_jobs.bronze import (
    WATERMARK_FROM_KEY,
    WATERMARK_KEY,
    deleted_keys,
    last_watermark,
    parquet_rows,
    split_stage,
    tombstones,
    write_tombstones,
)
from spark_jobs.enforcement import REASON, QualityThresholdExceeded
from spark_jobs.source import Server, SourceEngine, Stamp, qualified


@dataclass
class IngestResult:
    table: str
    batch_id: str
    mode: str
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    rows_deleted: int = 0
    bronze_path: Path | None = None
    table_version: int | None = None
    skipped: bool = False
    seconds: float = 0.0
    watermark: tuple[str | None, str | None] = (None, None)
    evolved: list[str] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.rows_written

    def summary(self) -> str:
        if self.skipped:
            return f"{self.table:<32} batch already committed (Delta v{self.table_version}); nothing to do"
        rate = self.rows_read / self.seconds if self.seconds else 0
        return (
            f"{self.table:<32} {self.mode:<11} read {self.rows_read:>9,}  written {self.rows_written:>9,}  "
            f"quarantined {self.rows_quarantined:>6,}  deleted {self.rows_deleted:>6,}  "
            f"Delta v{self.table_version}  {self.seconds:5.1f} s  {rate:>9,.0f} rows/s"
        )


def ingest_table(
    engine: SourceEngine,
    settings: Settings,
    table: SourceTable,
    batch_version: int | None = None,
    full_refresh: bool = False,
) -> IngestResult:
    """Ingest one batch of `table` into bronze as the contract says; see the module docstring.

    `full_refresh` reloads an incremental table as a snapshot (after the source was rebuilt or restored).
    """
    started = time.monotonic()
    batch_version = batch_version if batch_version is not None else time.time_ns() // 1_000_000
    batch_id = f"{batch_version}-{uuid.uuid4().hex[:8]}"
    bronze = table.bronze_path(settings.lake_root)
    quarantine = table.quarantine_path(settings.lake_root)
    app_id = f"ingest:{table.qualified_name}"
    result = IngestResult(table.qualified_name, batch_id, "full", bronze_path=bronze)

    if lake.is_table(bronze):
        existing = lake.open_table(bronze)
        if existing.transaction_version(app_id) == batch_version:
            result.skipped, result.table_version = True, existing.version()
            return result

    incremental = table.policy.mode == "incremental" and lake.is_table(bronze) and not full_refresh
    result.mode = "incremental" if incremental else "full"
    plan = engine.plan(settings, table, last_watermark(bronze) if incremental else None)
    result.watermark = (
        plan.watermark_lo.isoformat() if plan.watermark_lo else None,
        plan.watermark_hi.isoformat() if plan.watermark_hi else None,
    )
    stage_dir = bronze / "_staging" / batch_id  # the engine's one pass, split by rule outcome below
    good_dir = bronze / "data" / f"{batch_id}-good"
    bad_dir = quarantine / "data" / batch_id
    metadata = {"batch_id": batch_id, "contract": table.contract_id, "source": table.source_label}
    if plan.watermark_hi is not None:
        metadata[WATERMARK_KEY] = plan.watermark_hi.isoformat()
    if plan.watermark_lo is not None:
        metadata[WATERMARK_FROM_KEY] = plan.watermark_lo.isoformat()
    # Deletes from the source's change log where it offers one: read before the rows (see spark_jobs/cdc.py)
    change_log_deletes = table.policy.mode == "incremental" and table.policy.delete_detection == "snapshot"
    capture = cdc.Batch.begin(settings, table, bronze, incremental) if change_log_deletes else cdc.Batch()
    gone = capture.gone
    metadata.update(capture.metadata)
    server = Server.of(settings, table)
    source = lineage_events.source_dataset(server.label.rsplit("/", 1)[0], f"{table.database}.{qualified(table)}")
    job = f"ingest.{table.qualified_name}"
    run = lineage_events.emit(settings, job, "START", inputs=[source])
    try:
        stamp = Stamp(batch_id, datetime.now(UTC), change_log=table.policy.mode == "incremental")
        staged = engine.stage(settings, table, plan, stamp, stage_dir)
        extra, row_schema = staged.new_columns, staged.schema
        good, bad = split_stage(stage_dir, good_dir, bad_dir, row_schema)
        result.rows_written, result.rows_quarantined = parquet_rows(good), parquet_rows(bad)
        result.rows_read = result.rows_written + result.rows_quarantined

        # Quarantine follows the batch: a snapshot replaces the rejects of the last snapshot, an
        # incremental batch appends its own (with _batch_id), so each rejected version is kept once.
        if result.rows_quarantined or (not incremental and lake.is_table(quarantine)):
            quarantine.mkdir(parents=True, exist_ok=True)
            commit_parquet_files(
                quarantine,
                bad,
                app_id=f"quarantine:{table.qualified_name}",
                batch_version=batch_version,
                mode="append" if incremental else "overwrite",
                partition_by=[REASON],
                evolve=True,
                metadata=metadata,
            )
        else:
            shutil.rmtree(bad_dir, ignore_errors=True)  # empty and never committed
        # every batch's rates, over the threshold too (the quality report's trend)
        by_rule = quality.rejected_by_rule(bad, REASON) if result.rows_quarantined else {}
        quality.record_batch(settings, table, batch_id, result.rows_read, result.rows_quarantined, by_rule)
        share = result.rows_quarantined / result.rows_read if result.rows_read else 0.0
        if share > table.policy.quarantine_threshold:
            raise QualityThresholdExceeded(
                f"contract {table.contract_id}: {result.rows_quarantined} of {result.rows_read} rows "
                f"({share:.1%}) of {table.source_label} failed quality rules, over the threshold "
                f"{table.policy.quarantine_threshold:.1%}; bronze left unchanged. Reasons are in {quarantine}."
            )
        if incremental:
            good = [f for f in good if pq.read_metadata(f).num_rows]  # split_stage's empty placeholder
            if gone is None and table.policy.delete_detection == "snapshot":
                gone = deleted_keys(engine, settings, table, bronze)  # no change data capture: compare keys
            if gone is not None and gone.num_rows:
                good.append(write_tombstones(good_dir / "tombstones.parquet", gone, row_schema, stamp))
            result.rows_deleted = tombstones(good)
        # a snapshot replaces bronze; a change-log batch is appended (no file of the table is rewritten)
        # and, when nothing changed at the source, not committed at all (a rerun finds nothing either)
        if good:
            commit: CommitResult = commit_parquet_files(
                bronze,
                good,
                app_id=app_id,
                batch_version=batch_version,
                mode="append" if incremental else "overwrite",
                evolve=table.policy.drift_policy == "evolve_additive",
                metadata=metadata,
            )
            result.table_version, result.evolved = commit.table_version, extra
        else:
            result.table_version = lake.version(bronze)
        capture.finish()  # after the commit: a crash before it replays, skipped by LSN
    except BaseException:
        shutil.rmtree(good_dir, ignore_errors=True)  # uncommitted files are invisible; tidy them anyway
        lineage_events.emit(settings, job, "FAIL", run, inputs=[source])
        raise
    finally:
        shutil.rmtree(stage_dir, ignore_errors=True)
    outputs = [lineage_events.lake_dataset(settings, bronze, result.table_version)]
    if lake.is_table(quarantine):
        outputs.append(lineage_events.lake_dataset(settings, quarantine, lake.version(quarantine)))
    lineage_events.emit(settings, job, "COMPLETE", run, inputs=[source], outputs=outputs)
    result.seconds = time.monotonic() - started
    return result
