"""Every lakehouse Airflow DAG, generated from the contracts (orchestration/pipeline.py): ingest__<sector>,
lakehouse_transform, lakehouse_publish, lakehouse_maintenance and national_open_data. In a task's
process only the DAG of that task is built."""

from airflow.sdk import get_parsing_context

from orchestration.pipeline import dags

dags(get_parsing_context().dag_id)
