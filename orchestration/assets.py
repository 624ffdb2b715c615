"""Airflow assets for lake tables: names and URIs independent of where the lake lives (LAKE_ROOT)."""

from __future__ import annotations

from airflow.sdk import Asset

from data_contracts import Dataset, SourceTable


def lake_asset(zone: str, path: str) -> Asset:
    """`bronze/population/citizen` -> Asset lakehouse://bronze/population/citizen."""
    return Asset(name=f"{zone}.{path.replace('/', '.')}", uri=f"lakehouse://{zone}/{path}", group="lakehouse")


def bronze(table: SourceTable) -> Asset:
    return lake_asset("bronze", f"{table.sector}/{table.table}")


def gold(dataset: Dataset) -> Asset:
    return lake_asset("gold", dataset.name)
