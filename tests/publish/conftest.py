"""A publishing environment per test: its own lake folder, dataset name and contract namespace on the
shared test CKAN, purged afterwards."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import ckanapi
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from data_contracts import Dataset, dataset
from lakehouse.core.settings import Settings
from publish.ckan_api import CkanApi


def gold_table(population: list[int | None]) -> pa.Table:
    n = len(population)
    return pa.table(
        {
            "province_code_2025": ["01"] * n,
            "province_name_2025": ["Thành phố Hà Nội"] * n,
            "age_band": [f"{5 * i:02d}-{5 * i + 4:02d}" for i in range(n)],
            "sex": [("male", "female")[i % 2] for i in range(n)],
            "population": pa.array(population, pa.int64()),
            "suppressed": [p is None for p in population],
        }
    )


def write_gold(settings: Settings, ds: Dataset, population: list[int | None], mode: str = "error") -> None:
    """Gold table and the disclosure summary dbt would write beside it."""
    write_deltalake(str(ds.gold_path(settings.lake_root)), gold_table(population), mode=mode)
    summary = {
        "dataset": ds.name,
        "cells": len(population),
        "primary_suppressed": population.count(None),
        "complementary_suppressed": 0,
        "smallest_published_count": min(p for p in population if p),
        "min_cell_count": 10,
    }
    write_deltalake(str(ds.disclosure_path(settings.lake_root)), pa.Table.from_pylist([summary]), mode="overwrite")


@dataclasses.dataclass
class Env:
    settings: Settings
    ds: Dataset
    ckan: ckanapi.RemoteCKAN
    namespace: str

    # CSV, Parquet, datapackage.json, data dictionary, disclosure report (JSON and Markdown)
    published_files = 7  # … and the quality report

    def write_gold(self, population: list[int | None], mode: str = "error") -> None:
        write_gold(self.settings, self.ds, population, mode)

    def write_gold_without_summary(self, population: list[int | None]) -> None:
        write_deltalake(str(self.ds.gold_path(self.settings.lake_root)), gold_table(population))

    def portal(self, **kwargs: object) -> CkanApi:
        """A publisher's client that counts its uploads."""
        options = {"retries": 1, "retry_seconds": 0.05, **kwargs}
        return CkanApi(self.settings.ckan_url, self.settings.ckan_token(), **options)  # type: ignore[arg-type]

    def package(self) -> dict:
        return self.ckan.action.package_show(id=self.ds.name)

    def exported(self) -> dict[str, Path]:
        """The release's files (dot files are the publisher's bookkeeping, e.g. the validation marker)."""
        folder = self.settings.var_dir / "publish" / self.ds.name
        return {p.name: p for p in folder.iterdir() if not p.name.startswith(".")}


@pytest.fixture
def env(tmp_path, ckan_portal, monkeypatch) -> Iterator[Env]:
    uid = uuid.uuid4().hex[:8]
    namespace = f"urn:test-{uid}:dataset:"
    ds = dataclasses.replace(
        dataset("population_by_province_age_sex"), name=f"test-publish-{uid}", contract_id=f"{namespace}population"
    )
    monkeypatch.setenv("CKAN_API_TOKEN", ckan_portal.token)
    settings = dataclasses.replace(
        Settings.from_env(),
        var_dir=tmp_path,
        lake_root=tmp_path / "lake",
        ckan_url=ckan_portal.url,
        ckan_retries=1,
        ckan_retry_seconds=0.05,
    )
    ckan = ckanapi.RemoteCKAN(ckan_portal.url, apikey=ckan_portal.token)
    yield Env(settings, ds, ckan, namespace)
    with contextlib.suppress(ckanapi.NotFound):
        ckan.action.dataset_purge(id=ds.name)
