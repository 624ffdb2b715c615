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
            "sex": ["male"] * n,
            "population": pa.array(population, pa.int64()),
            "suppressed": [p is None for p in population],
        }
    )


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
    write_deltalake(str(ds.gold_path(settings.lake_root)), _gold([12, None, 40]))
    first = publish_dataset(settings, ds)
    assert sorted(first.uploaded) == [f"{ds.name}.csv", f"{ds.name}.parquet"]
    again = publish_dataset(settings, ds)
    assert again.uploaded == [] and len(again.unchanged) == 2
    write_deltalake(str(ds.gold_path(settings.lake_root)), _gold([12, None, 41]), mode="overwrite")
    changed = publish_dataset(settings, ds)
    assert len(changed.uploaded) == 2 and changed.gold_version == 1
    package = portal.action.package_show(id=ds.name)
    assert len(package["resources"]) == 2
    assert {e["key"]: e["value"] for e in package["extras"]}["lake_gold_version"] == "1"
    assert package["organization"]["title"] == "Ministry of Public Security"
    assert len((settings.var_dir / "audit" / "publish.jsonl").read_text().splitlines()) == 3


def test_failed_disclosure_publishes_nothing(setup, monkeypatch, ckan_portal) -> None:
    settings, ds, portal = setup
    monkeypatch.setenv("CKAN_API_TOKEN", ckan_portal.token)
    write_deltalake(str(ds.gold_path(settings.lake_root)), _gold([12, 3]))
    with pytest.raises(DisclosureError, match=r"below 10 are not suppressed"):
        publish_dataset(settings, ds)
    with pytest.raises(ckanapi.NotFound):
        portal.action.package_show(id=ds.name)


def test_portal_down_is_a_clear_error(setup, monkeypatch) -> None:
    settings, ds, _ = setup
    monkeypatch.setenv("CKAN_API_TOKEN", "unused")
    write_deltalake(str(ds.gold_path(settings.lake_root)), _gold([12]))
    down = dataclasses.replace(settings, ckan_url="http://127.0.0.1:1")
    with pytest.raises(PortalUnavailable, match=r"127.0.0.1:1 is not reachable.*infra/ckan.sh start"):
        publish_dataset(down, ds)
