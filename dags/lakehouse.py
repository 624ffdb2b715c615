"""Every lakehouse Airflow DAG, generated from the contracts (orchestration/pipeline.py): ingest__<sector>,
lakehouse_transform, lakehouse_publish, lakehouse_maintenance and national_open_data."""

from orchestration.pipeline import chain_dag, ingestion_dags, maintenance_dag, publish_dag, transform_dag

ingestion_dags()
transform_dag()
publish_dag()
maintenance_dag()
chain_dag()
