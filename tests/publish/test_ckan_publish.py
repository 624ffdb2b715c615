"""Publishing to a real CKAN: idempotent, re-uploads only changes, refuses to publish on failure."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid
from collections.abc import Iterator

import ckanapi
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from data_contracts import Dataset, dataset
from lakehouse.config import Settings
from publish.ckan_portal import PortalUnavailable, publish_dataset
from publish.disclosure import DisclosureError


def _gold(population: list[int | None]) -> pa.Table:
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


def _write_gold(settings: Settings, ds: Dataset, population: list[int | None], mode: str = "error") -> None:
    """Gold table and the disclosure summary dbt would write beside it."""
    write_deltalake(str(ds.gold_path(settings.lake_root)), _gold(population), mode=mode)
    summary = {
        "dataset": ds.name,
        "cells": len(population),
        "primary_suppressed": population.count(None),
        "complementary_suppressed": 0,
        "smallest_published_count": min(p for p in population if p),
        "min_cell_count": 10,
    }
    write_deltalake(str(ds.disclosure_path(settings.lake_root)), pa.Table.from_pylist([summary]), mode="overwrite")


@pytest.fixture
def setup(tmp_path, ckan_portal) -> Iterator[tuple[Settings, Dataset, ckanapi.RemoteCKAN]]:
    ds = dataclasses.replace(dataset("population_by_province_age_sex"), name=f"test-publish-{uuid.uuid4().hex[:8]}")
    settings = dataclasses.replace(
        Settings.from_env(), var_dir=tmp_path, lake_root=tmp_path / "lake", ckan_url=ckan_portal.url
    )
    portal = ckanapi.RemoteCKAN(ckan_portal.url, apikey=ckan_portal.token)
    yield settings, ds, portal
    with contextlib.suppress(ckanapi.NotFound):
        portal.action.dataset_purge(id=ds.name)


def test_publish_is_idempotent_and_uploads_only_changes(setup, monkeypatch, ckan_portal) -> None:
    settings, ds, portal = setup
    monkeypatch.setenv("CKAN_API_TOKEN", ckan_portal.token)
    _write_gold(settings, ds, [12, None, 40])
    first = publish_dataset(settings, ds)
    assert sorted(first.uploaded) == sorted(
        [
            f"{ds.name}.csv",
            f"{ds.name}.parquet",
            f"{ds.name}.dictionary.csv",
            f"{ds.name}.disclosure-report.json",
            f"{ds.name}.disclosure-report.md",
        ]
    )
    again = publish_dataset(settings, ds)
    assert again.uploaded == [] and len(again.unchanged) == 5
    _write_gold(settings, ds, [12, None, 41], mode="overwrite")
    changed = publish_dataset(settings, ds)
    assert len(changed.uploaded) == 4 and changed.gold_version == 1  # all but the unchanged dictionary
    package = portal.action.package_show(id=ds.name)
    assert sorted(r["format"] for r in package["resources"]) == ["CSV", "CSV", "JSON", "Markdown", "Parquet"]
    assert package["version"] == "1"  # the gold table's Delta version
    extras = {e["key"]: e["value"] for e in package["extras"]}
    assert extras["disclosure_verdict"] == "passed" and extras["provenance_dbt_model"] == ds.dbt_model
    assert {e["key"]: e["value"] for e in package["extras"]}["lake_gold_version"] == "1"
    assert package["organization"]["title"] == "Ministry of Public Security"
    assert len((settings.var_dir / "audit" / "publish.jsonl").read_text().splitlines()) == 3


def test_failed_disclosure_publishes_nothing(setup, monkeypatch, ckan_portal) -> None:
    settings, ds, portal = setup
    monkeypatch.setenv("CKAN_API_TOKEN", ckan_portal.token)
    _write_gold(settings, ds, [12, 3])
    with pytest.raises(DisclosureError, match=r"below 10 are not suppressed"):
        publish_dataset(settings, ds)
    with pytest.raises(ckanapi.NotFound):
        portal.action.package_show(id=ds.name)
    report = settings.var_dir / "publish" / ds.name / f"{ds.name}.disclosure-report.json"
    assert '"passed": false' in report.read_text()  # the report says why, locally


def test_missing_disclosure_summary_publishes_nothing(setup, monkeypatch, ckan_portal) -> None:
    settings, ds, portal = setup
    monkeypatch.setenv("CKAN_API_TOKEN", ckan_portal.token)
    write_deltalake(str(ds.gold_path(settings.lake_root)), _gold([12, 40]))
    with pytest.raises(DisclosureError, match=r"no disclosure summary"):
        publish_dataset(settings, ds)
    with pytest.raises(ckanapi.NotFound):
        portal.action.package_show(id=ds.name)


def test_portal_down_is_a_clear_error(setup, monkeypatch) -> None:
    settings, ds, _ = setup
    monkeypatch.setenv("CKAN_API_TOKEN", "unused")
    _write_gold(settings, ds, [12, 15])
    down = dataclasses.replace(settings, ckan_url="http://127.0.0.1:1")
    with pytest.raises(PortalUnavailable, match=r"127.0.0.1:1 is not reachable.*infra/ckan.sh start"):
        publish_dataset(down, ds)
