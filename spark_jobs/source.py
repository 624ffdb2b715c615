"""What every ingestion engine shares: the read plan of a batch (one small query at the source), the
audit stamp of its rows, retries whose final error names the contract and the server, and the
interface an engine implements. Engines: DuckDB's scanners on one machine (duckdb_scan.py), Spark JDBC
on a cluster (jdbc.py); `open_engine` picks one from the settings."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar
from urllib.parse import urlparse

import pyarrow as pa

from data_contracts import SourceTable
from lakehouse.core.errors import LakehouseError
from lakehouse.core.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


class SourceUnavailable(LakehouseError):
    """The sector database could not be read (after retries); a later retry may succeed."""


@dataclass(frozen=True)
class Server:
    """Where a contract's table lives (credentials from the environment, never in messages)."""

    kind: str  # postgres | mysql
    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def of(cls, settings: Settings, table: SourceTable) -> Server:
        postgres = table.server_type == "postgres"
        return cls(
            "postgres" if postgres else "mysql", *cls.of_url(settings.server_url(table.server_type)), table.database
        )

    @staticmethod
    def of_url(base_url: str) -> tuple[str, int, str, str]:
        """(host, port, user, password) of a server URL, with each kind's defaults."""
        url = urlparse(base_url)
        postgres = url.scheme.startswith("postgres")
        return (
            url.hostname or "127.0.0.1",
            url.port or (5432 if postgres else 3306),
            url.username or ("postgres" if postgres else "root"),
            url.password or "",
        )

    @property
    def label(self) -> str:
        return f"{self.kind}://{self.host}:{self.port}/{self.database}"


def qualified(table: SourceTable) -> str:
    return f"{table.db_schema}.{table.table}" if table.db_schema else table.table


def _literal(value: datetime) -> str:
    return f"'{value.isoformat(sep=' ')}'"


@dataclass(frozen=True)
class ReadPlan:
    where: str | None  # SQL predicate of the watermark window (source dialect)
    watermark_lo: datetime | None
    watermark_hi: datetime | None
    bounds: tuple[int, int] | None  # min and max of the partition column (Spark's partitioned reads)
    expected_rows: int


def plan_query(table: SourceTable, after: datetime | None, count: bool = True) -> str:
    """The plan's one query: partition bounds, upper watermark and (if `count`: a scan of the window)
    row count of the window after `after`. Bounds and watermark come from the source's indexes."""
    wm, pk = table.watermark_column, table.partition_column
    cols = ["COUNT(*) AS n" if count else "0 AS n"]
    if pk:
        cols += [f"MIN({pk}) AS lo", f"MAX({pk}) AS hi"]
    if wm:
        cols.append(f"MAX({wm}) AS wm")
    where = _window(table, after)
    return f"SELECT {', '.join(cols)} FROM {qualified(table)}" + (f" WHERE {where}" if where else "")


def _window(table: SourceTable, after: datetime | None) -> str | None:
    incremental = table.policy.mode == "incremental" and table.watermark_column
    return f"{table.watermark_column} > {_literal(after)}" if incremental and after is not None else None


def read_plan(table: SourceTable, after: datetime | None, row: dict[str, Any]) -> ReadPlan:
    """The plan from the plan query's row: the window is closed at the watermark it found, so rows
    updated while the batch runs wait for the next one instead of being skipped."""
    wm = table.watermark_column
    where = _window(table, after)
    hi = row.get("wm") if wm else None
    if where and hi is not None:
        where = f"{where} AND {wm} <= {_literal(hi)}"
    lo_key = row.get("lo")
    bounds = (int(lo_key), int(row["hi"])) if table.partition_column and lo_key is not None else None
    incremental = table.policy.mode == "incremental" and wm
    return ReadPlan(where, after if incremental else None, hi, bounds, int(row["n"]))


@dataclass(frozen=True)
class Stamp:
    """The audit columns every row of a batch carries: `_batch_id` links a row to its batch's commit,
    whose metadata holds the per-batch facts (contract, source, watermark window); `_ingested_at`
    orders a key's versions."""

    batch_id: str
    ingested_at: datetime
    change_log: bool = False  # incremental tables: rows carry `_tombstone` (lakehouse/core/changelog.py)


def soft_deleted(table: SourceTable) -> str | None:
    """The contract's soft-delete column, if deletes are marked in the source."""
    return table.policy.soft_delete_column if table.policy.delete_detection == "soft_delete" else None


@dataclass(frozen=True)
class Staged:
    """An engine's one pass: clean rows under `<stage>/_quarantine_reason=__HIVE_DEFAULT_PARTITION__/`
    (the NULL reason, as Spark and DuckDB both name it), rejected rows in one folder per reason;
    `schema` is a clean row's (contract columns, new ones, `_batch_id`, `_ingested_at`)."""

    schema: pa.Schema
    new_columns: list[str]


class SourceEngine(Protocol):
    name: str

    def plan(self, settings: Settings, table: SourceTable, after: datetime | None) -> ReadPlan: ...

    def stage(
        self, settings: Settings, table: SourceTable, plan: ReadPlan, stamp: Stamp, stage_dir: Path
    ) -> Staged: ...

    def keys(self, settings: Settings, table: SourceTable) -> pa.Table: ...


def with_retries(settings: Settings, table: SourceTable, what: str, fn: Callable[[], T]) -> T:
    """Run a source action, retrying transient failures; the final error names contract and server."""
    attempts = max(1, settings.source_retries)
    for attempt in range(1, attempts + 1):
        try:
            return fn()
        except LakehouseError:
            raise  # the project's own verdicts (drift, contract) are not transient
        except Exception as exc:  # drivers wrap every failure; the first line names the cause
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
            password = Server.of(settings, table).password
            if password:  # whatever a driver echoes, the password never reaches a log or a message
                first = first.replace(password, "***")
            if attempt == attempts:
                raise SourceUnavailable(
                    f"contract {table.contract_id}: cannot {what} {table.source_label} at "
                    f"{Server.of(settings, table).label} after {attempts} attempt(s): {first}"
                ) from exc
            log.warning("%s: %s failed (attempt %d/%d): %s", table.qualified_name, what, attempt, attempts, first)
            time.sleep(settings.source_retry_seconds * attempt)
    raise AssertionError("unreachable")


@contextmanager
def open_engine(settings: Settings, app_name: str = "lakehouse-ingest") -> Iterator[SourceEngine]:
    """The engine the settings choose (LAKEHOUSE_INGEST_ENGINE, SPARK_MASTER), closed afterwards."""
    if settings.engine == "spark":
        from spark_jobs.jdbc import SparkEngine
        from spark_jobs.session import spark_session

        spark = spark_session(settings, app_name)
        try:
            yield SparkEngine(spark)
        finally:
            spark.stop()
    else:
        from spark_jobs.duckdb_scan import DuckDBEngine

        engine = DuckDBEngine()
        try:
            yield engine
        finally:
            engine.close()
