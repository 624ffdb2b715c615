"""Airflow building blocks generated from the contracts (used by the thin files in dags/)."""
