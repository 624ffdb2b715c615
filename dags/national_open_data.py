"""Ingest every sector table, build the lakehouse models, publish the open datasets.

Thin by design: tasks come from the contracts and call `bin/lakehouse` in the data virtualenv
(Spark, dbt and the publisher live there, not in Airflow's environment).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, Param

from data_contracts import datasets, source_tables

LAKEHOUSE = Path(__file__).resolve().parents[1] / "bin" / "lakehouse"
# Same DAG run -> same batch version, so a retried ingest after a successful commit is a no-op.
BATCH_VERSION = "{{ (logical_date or dag_run.run_after).int_timestamp }}"
# Trigger with conf {"full_refresh": true} after a source was rebuilt: incremental tables reload.
FULL_REFRESH = "{{ ' --full-refresh' if params.full_refresh else '' }}"

with DAG(
    dag_id="national_open_data",
    description="sector databases -> bronze -> silver -> gold -> CKAN",
    schedule="@daily",
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(seconds=30)},
    tags=["lakehouse", "open-data"],
    params={"full_refresh": Param(False, type="boolean", description="reload incremental tables as snapshots")},
) as dag:
    # One task per sector: its tables share one Spark session (JVM start-up is most of a small run).
    ingest = [
        BashOperator(
            task_id=f"ingest__{sector}",
            bash_command=f"{LAKEHOUSE} ingest --sector {sector} --batch-version {BATCH_VERSION}{FULL_REFRESH}",
        )
        for sector in sorted({t.sector for t in source_tables()})
    ]
    # One writer per DuckDB file: a single dbt build task, never parallel.
    transform = BashOperator(task_id="transform", bash_command=f"{LAKEHOUSE} transform")
    publish = [
        BashOperator(task_id=f"publish__{d.name}", bash_command=f"{LAKEHOUSE} publish --dataset {d.name}")
        for d in datasets()
    ]
    # A dataset whose contract was removed is marked deleted on the portal (never purged).
    withdraw = BashOperator(task_id="withdraw_removed_datasets", bash_command=f"{LAKEHOUSE} publish --withdrawn-only")
    ingest >> transform >> publish
    transform >> withdraw
