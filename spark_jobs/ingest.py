"""Contract-driven ingestion: one sector table -> bronze Delta, via Spark JDBC partitioned reads.

Each run is a batch: read the source table (partitioned on the contract's jdbcPartitionColumn),
check its columns against the contract, add audit columns, write Parquet into the table folder and
make one Delta commit that replaces the previous snapshot. The batch version recorded in the commit
makes a retried batch a no-op. Incremental (watermark + merge) extraction is the next step.
"""

from __future__ import annotations

import logging
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from data_contracts import ContractError, SourceTable
from lakehouse.config import Settings
from spark_jobs.delta_commit import CommitResult, commit_parquet_files

log = logging.getLogger(__name__)
JDBC_PARTITIONS = 2  # FINDINGS: 2-4 partitions, fetchsize 1k-10k are fastest on 2 cores
JDBC_FETCHSIZE = 10_000


class SourceUnavailable(RuntimeError):
    """The sector database could not be read."""


@dataclass(frozen=True)
class IngestResult:
    table: str
    batch_id: str
    rows: int
    bronze_path: Path
    commit: CommitResult


def jdbc_options(settings: Settings, table: SourceTable) -> dict[str, str]:
    """JDBC URL, driver and credentials for the contract's server."""
    url = urlparse(settings.server_url(table.server_type))
    host, port = url.hostname or "127.0.0.1", url.port
    if table.server_type == "postgres":
        opts = {"url": f"jdbc:postgresql://{host}:{port or 5432}/{table.database}", "driver": "org.postgresql.Driver"}
    else:
        # FINDINGS: jdbc:mariadb:// gets a no-op dialect that double-quotes identifiers; use the mysql scheme.
        opts = {
            "url": f"jdbc:mysql://{host}:{port or 3306}/{table.database}?permitMysqlScheme",
            "driver": "org.mariadb.jdbc.Driver",
        }
    opts["user"] = url.username or ("postgres" if table.server_type == "postgres" else "root")
    opts["password"] = url.password or ""
    return opts


def _qualified(table: SourceTable) -> str:
    return f"{table.db_schema}.{table.table}" if table.db_schema else table.table


def read_source(spark: SparkSession, settings: Settings, table: SourceTable) -> DataFrame:
    """Partitioned JDBC read of the whole source table, restricted to the contract's columns."""
    opts = jdbc_options(settings, table)
    try:
        bounds = (
            (
                spark.read.format("jdbc")
                .options(**opts)
                .option(
                    "query",
                    f"SELECT MIN({table.partition_column}) lo, MAX({table.partition_column}) hi "
                    f"FROM {_qualified(table)}",
                )
                .load()
                .first()
            )
            if table.partition_column
            else None
        )
        reader = spark.read.format("jdbc").options(**opts).option("dbtable", _qualified(table))
        reader = reader.option("fetchsize", JDBC_FETCHSIZE)
        if bounds is not None and bounds["lo"] is not None:
            reader = (
                reader.option("partitionColumn", table.partition_column)
                .option("lowerBound", int(bounds["lo"]))
                .option("upperBound", int(bounds["hi"]) + 1)
                .option("numPartitions", JDBC_PARTITIONS)
            )
        df = reader.load()
    except Exception as exc:  # py4j wraps every JDBC failure; keep the first line, it names the cause
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise SourceUnavailable(
            f"contract {table.contract_id}: cannot read {table.source_label} ({opts['url']}): {first}"
        ) from exc
    return check_columns(df, table)


def check_columns(df: DataFrame, table: SourceTable) -> DataFrame:
    """Fail on a contract column the source lacks; ignore (and report) columns the contract omits."""
    present = {c.lower(): c for c in df.columns}
    missing = [c.name for c in table.columns if c.name.lower() not in present]
    if missing:
        raise ContractError(
            f"schema drift in contract {table.contract_id}: table {table.source_label} has no column(s) "
            f"{', '.join(missing)}; update the source or the contract"
        )
    extra = sorted(set(present) - {c.name.lower() for c in table.columns})
    if extra:
        log.warning(
            "contract %s: table %s has columns not in the contract, not ingested: %s",
            table.contract_id,
            table.source_label,
            ", ".join(extra),
        )
    return df.select(*[F.col(present[c.name.lower()]).alias(c.name) for c in table.columns])


def ingest_table(
    spark: SparkSession, settings: Settings, table: SourceTable, batch_version: int | None = None
) -> IngestResult:
    """Snapshot `table` into bronze as one Delta commit; a batch version already committed is skipped."""
    batch_version = batch_version if batch_version is not None else time.time_ns() // 1_000_000
    batch_id = f"{batch_version}-{uuid.uuid4().hex[:8]}"
    bronze = table.bronze_path(settings.lake_root)
    staging = bronze / "data" / batch_id
    df = read_source(spark, settings, table).withColumns(
        {
            "_batch_id": F.lit(batch_id),
            "_ingested_at": F.current_timestamp(),
            "_source": F.lit(table.source_label),
        }
    )
    bronze.mkdir(parents=True, exist_ok=True)
    try:
        df.write.mode("error").parquet(str(staging))
        files = sorted(staging.glob("*.parquet"))
        result = commit_parquet_files(
            bronze,
            files,
            app_id=f"ingest:{table.qualified_name}",
            batch_version=batch_version,
            mode="overwrite",
            metadata={"batch_id": batch_id, "contract": table.contract_id, "source": table.source_label},
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # uncommitted files are invisible; tidy them anyway
        raise
    if result.skipped:
        shutil.rmtree(staging, ignore_errors=True)
        log.info("%s: batch %s already committed, nothing to do", table.qualified_name, batch_version)
    return IngestResult(table.qualified_name, batch_id, result.rows, bronze, result)
