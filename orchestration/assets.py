"""Airflow assets for lake tables: names and URIs independent of where the lake lives (LAKE_ROOT)."""

from __future__ import annotations

from airflow.sdk import Asset

from data_contracts import Dataset, SourceTable
from lakehouse.core import lake


def lake_asset(path: str) -> Asset:
    """`bronze/population/citizen` -> Asset lakehouse://bronze/population/citizen."""
    return Asset(name=path.replace("/", "."), uri=f"lakehouse://{path}", group="lakehouse")


def bronze(table: SourceTable) -> Asset:
    return lake_asset(lake.relative("bronze", table.sector, table.table))


def gold(dataset: Dataset) -> Asset:
    return lake_asset(lake.relative("gold", dataset.name))
