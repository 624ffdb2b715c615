"""The pipeline's DAGs, generated from the contracts: one ingestion DAG per sector (a task per source
table; schedule, owner and retries from the contracts), the dbt models, publishing, maintenance, and
the whole chain in one DAG for manual runs and backfills. Assets link the stages: a bronze table's
asset updates after its ingestion, the dbt run waits for bronze assets, publishing for gold ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from functools import partial

from airflow.sdk import DAG, AssetAll, Param
from airflow.timetables.trigger import CronTriggerTimetable

from data_contracts import SourceTable, datasets, source_tables
from orchestration import assets
from orchestration.dbt_task_group import DUCKDB_POOL, dbt_models
from orchestration.tasks import LakehouseOperator, lakehouse

# An unpaused DAG waits for its next scheduled time instead of running the latest missed one at once,
# so a manual run is not doubled. Airflow's default for a cron string (run_immediately=False) still
# runs the missed tick when unpaused within 10% of the period (2.4 h after midnight for @daily):
# a zero buffer is what "never" needs.
NO_MISSED_RUN = timedelta(0)
SPARK_POOL = "lakehouse_spark"  # Spark JVMs at once (2 on a 2-core machine; raise it on a cluster)
SCHEDULES = {"hourly": "@hourly", "daily": "@daily", "weekly": "@weekly", "monthly": "@monthly"}
# One DAG run, one batch version: a retried ingest after a successful commit is a no-op.
BATCH_VERSION = "{{ dag_run.run_after.timestamp() | int }}"
PARAMS = {
    "full_refresh": Param(False, type="boolean", description="reload every incremental table as a snapshot"),
    "full_refresh_tables": Param([], type="array", description='reload only these tables, e.g. ["citizen"]'),
}


def _dag(dag_id: str, description: str, schedule: object, tags: list[str], **kwargs: object) -> DAG:
    """Every lakehouse DAG: no catch-up, one run at a time, tagged `lakehouse`."""
    if isinstance(schedule, str):
        schedule = CronTriggerTimetable(schedule, timezone="UTC", run_immediately=NO_MISSED_RUN)
    return DAG(
        dag_id=dag_id,
        description=description,
        schedule=schedule,
        catchup=False,
        max_active_runs=1,
        tags=["lakehouse", *tags],
        **kwargs,
    )


def sectors() -> dict[str, list[SourceTable]]:
    out: dict[str, list[SourceTable]] = {}
    for t in source_tables():
        out.setdefault(t.sector, []).append(t)
    return dict(sorted(out.items()))


def ingest_task(table: SourceTable, task_id: str | None = None, outlets: list | None = None) -> LakehouseOperator:
    refresh = (
        f"{{{{ ' --full-refresh' if params.full_refresh or '{table.table}' in params.full_refresh_tables else '' }}}}"
    )
    return lakehouse(
        task_id or table.table,
        f"ingest --sector {table.sector} --table {table.table} --batch-version {BATCH_VERSION}{refresh}",
        retries=table.retries,
        owner=table.owner or "data-engineering",
        pool=SPARK_POOL,
        outlets=outlets,
    )


def publish_tasks() -> list[LakehouseOperator]:
    tasks = [lakehouse(f"publish__{d.name}", f"publish --dataset {d.name}") for d in datasets()]
    # A dataset whose contract was removed is marked deleted on the portal (never purged).
    return [*tasks, lakehouse("withdraw_removed_datasets", "publish --withdrawn-only")]


def ingestion_dag(sector: str, tables: list[SourceTable]) -> DAG:
    frequencies = [SCHEDULES.get((t.frequency or "daily").lower(), "@daily") for t in tables]
    schedule = min(frequencies, key=list(SCHEDULES.values()).index)
    with _dag(
        f"ingest__{sector}",
        f"{sector}: source tables -> bronze Delta (contracts in data_contracts/sources/{sector})",
        schedule,
        ["ingest", sector],
        params=PARAMS,
    ) as dag:
        for t in tables:
            ingest_task(t, outlets=[assets.bronze(t)])
    return dag


def transform_dag() -> DAG:
    with _dag(
        "lakehouse_transform",
        "dbt: bronze -> silver -> gold, each model then its tests (Cosmos)",
        # Once every source table has landed since the last build: one consistent rebuild per cycle
        # (cross-sector datasets need all sectors); a sector that stalls is flagged by the freshness check.
        AssetAll(*[assets.bronze(t) for t in source_tables()]),
        ["dbt"],
    ) as dag:
        dbt_models(outlets=[assets.gold(d) for d in datasets()])
    return dag


def publish_dag() -> DAG:
    with _dag(
        "lakehouse_publish",
        "gold datasets -> disclosure gate -> CKAN",
        AssetAll(*[assets.gold(d) for d in datasets()]),
        ["publish"],
    ) as dag:
        publish_tasks()
    return dag


def maintenance_dag() -> DAG:
    with _dag(
        "lakehouse_maintenance",
        "compaction and vacuum per zone (retention from the contracts); freshness vs SLA; pending erasures",
        "@daily",
        ["maintenance"],
    ) as dag:
        for zone in ("bronze", "quarantine", "silver", "gold"):
            lakehouse(f"maintain__{zone}", f"maintain --zone {zone}", pool=DUCKDB_POOL if zone != "bronze" else None)
        lakehouse("freshness", "freshness")
        # An erasure request that failed midway (a build or the portal down) is finished here.
        lakehouse("erasure_pending", "erasure apply", pool=DUCKDB_POOL)
    return dag


def chain_dag() -> DAG:
    """Everything in one run (manual): every sector's tables, the dbt models, publishing."""
    with _dag(
        "national_open_data",
        "the whole chain in one run: sector databases -> bronze -> silver -> gold -> CKAN",
        None,
        ["open-data"],
        params=PARAMS,
    ) as dag:
        # No asset events from here: the chain builds and publishes itself, nothing downstream re-runs.
        ingest = [ingest_task(t, f"ingest__{t.sector}__{t.table}") for t in source_tables()]
        models = dbt_models()
        ingest >> models >> publish_tasks()
    return dag


def dags(wanted: str | None = None) -> list[DAG]:
    """Every DAG; only `wanted` when it names one. A task's process parses the DAG file to find its task
    and Airflow tells it which DAG (`get_parsing_context`): building that DAG alone saves each task start
    the others (the dbt graph rendered twice, every sector's DAG), about 0.3 s."""
    builders: dict[str, Callable[[], DAG]] = {
        **{f"ingest__{sector}": partial(ingestion_dag, sector, tables) for sector, tables in sectors().items()},
        "lakehouse_transform": transform_dag,
        "lakehouse_publish": publish_dag,
        "lakehouse_maintenance": maintenance_dag,
        "national_open_data": chain_dag,
    }
    if wanted in builders:
        return [builders[wanted]()]
    return [build() for build in builders.values()]
