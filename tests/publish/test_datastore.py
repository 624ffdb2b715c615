"""Released CSVs in CKAN's DataStore, on the real CKAN: typed from the data package, queryable through
`datastore_search` and `datastore_search_sql`, previewed as a table and a chart; a new release's table
is whole before the flip shows it, and the previous release's goes with its resource."""

from __future__ import annotations

from typing import Any

import ckanapi
import pytest
import requests

from publish.ckan_api import CkanApi
from publish.ckan_portal import publish_dataset

FIRST = [120, 80, None, 45, None, 33]  # two suppressed cells in one line (male)
SECOND = [140, 80, None, 45, None, 33]


def _csv(env) -> dict:
    return next(r for r in env.package()["resources"] if r["name"] == f"{env.ds.name}.csv")


class Watching(CkanApi):
    """The publisher's client, noting what the DataStore holds for each resource when the flip is sent."""

    flips: list[dict[str, Any]]

    def call(self, action: str, **data: Any) -> Any:
        if action == "package_patch":
            self.flips = getattr(self, "flips", [])
            for r in data.get("resources", []):
                if r["name"].endswith(".csv") and r.get("datastore_active"):
                    found = super().call("datastore_search", resource_id=r["id"], limit=0)
                    self.flips.append({"id": r["id"], "total": found["total"]})
        return super().call(action, **data)


def test_the_released_csv_is_queryable_typed_and_previewed(env) -> None:
    env.write_gold(FIRST)
    publish_dataset(env.settings, env.ds, portal=env.portal())
    csv = _csv(env)
    assert csv["datastore_active"]
    found = env.ckan.action.datastore_search(resource_id=csv["id"], limit=100)
    types = {f["id"]: f["type"] for f in found["fields"]}
    notes = {f["id"]: f.get("info", {}).get("notes", "") for f in found["fields"]}
    vietnamese = next(c.description_vi for c in env.ds.columns if c.name == "population")
    assert vietnamese and vietnamese in notes["population"]  # the data dictionary in both languages
    assert types["population"] == "int8" and types["suppressed"] == "bool" and types["age_band"] == "text"
    assert [r["population"] for r in found["records"]] == FIRST  # a suppressed cell is empty, not 0
    total = env.ckan.action.datastore_search_sql(sql=f'SELECT sum(population) AS n FROM "{csv["id"]}"')
    assert int(total["records"][0]["n"]) == sum(p for p in FIRST if p)

    views = {v["view_type"]: v for v in env.ckan.action.resource_view_list(id=csv["id"])}
    assert {"datatables_view", "charts_view"} <= set(views)
    assert views["charts_view"]["x"] == "province_name_2025" and views["charts_view"]["y"] == "population"
    page = f"{env.settings.ckan_url}/dataset/{env.ds.name}/resource/{csv['id']}"
    for view in views.values():  # each view renders, anonymously, as a researcher sees it
        html = requests.get(f"{page}/view/{view['id']}", timeout=30)
        assert html.status_code == 200, html.text[:500]
    chart = requests.get(f"{page}/view/{views['charts_view']['id']}", timeout=30).text
    assert "plotly" in chart.lower() and "error" not in chart.lower().split("plotly")[0][-200:]


def test_a_new_release_replaces_the_table_whole_and_the_old_one_goes(env) -> None:
    env.write_gold(FIRST)
    publish_dataset(env.settings, env.ds, portal=env.portal())
    old = _csv(env)["id"]
    env.write_gold(SECOND, mode="overwrite")
    watching = Watching(env.settings.ckan_url, env.settings.ckan_token(), retries=1, retry_seconds=0.05)
    publish_dataset(env.settings, env.ds, portal=watching)
    new = _csv(env)["id"]
    assert new != old
    # when the flip was sent, the new CSV's table already held every row
    assert {"id": new, "total": len(SECOND)} in watching.flips
    rows = env.ckan.action.datastore_search(resource_id=new, limit=100)["records"]
    assert [r["population"] for r in rows] == SECOND
    with pytest.raises((ckanapi.NotFound, ckanapi.ValidationError)):
        env.ckan.action.datastore_search(resource_id=old)
    views = {v["view_type"] for v in env.ckan.action.resource_view_list(id=new)}
    assert {"datatables_view", "charts_view"} <= views


def test_a_release_published_before_the_datastore_gets_its_table(env) -> None:
    env.write_gold(FIRST)
    publish_dataset(env.settings, env.ds, portal=env.portal())
    csv = _csv(env)
    env.ckan.action.datastore_delete(resource_id=csv["id"], force=True)  # as a portal of an older release
    assert not _csv(env)["datastore_active"]
    result = publish_dataset(env.settings, env.ds, portal=env.portal())
    assert result.action == "update" and not result.uploaded  # no file uploaded again
    assert _csv(env)["id"] == csv["id"] and _csv(env)["datastore_active"]
    assert env.ckan.action.datastore_search(resource_id=csv["id"])["total"] == len(FIRST)
    assert publish_dataset(env.settings, env.ds, portal=env.portal()).action == "skip"


def test_the_release_carries_its_quality_report_and_dqv_measurements(env) -> None:
    """Published with each release: a quality report resource and W3C DQV measurements in the DCAT."""
    import json

    import rdflib

    env.write_gold(FIRST)
    result = publish_dataset(env.settings, env.ds, portal=env.portal())
    assert f"{env.ds.name}.quality.json" in result.uploaded
    report = json.loads((env.exported()[f"{env.ds.name}.quality.json"]).read_text())
    assert report["rows"] == len(FIRST) and report["suppressed_share"] == round(2 / 6, 6)
    assert {m["metric"] for m in report["measurements"]} >= {"dbt-tests-passed-share", "suppressed-cell-share"}
    ttl = requests.get(f"{env.settings.ckan_url}/dataset/{env.ds.name}.ttl", timeout=30).text
    g = rdflib.Graph().parse(data=ttl, format="turtle")
    dqv = rdflib.Namespace("http://www.w3.org/ns/dqv#")
    measured = {
        str(g.value(m, dqv.isMeasurementOf)).rsplit(":", 1)[-1]: g.value(m, dqv.value).toPython()
        for m in g.objects(None, dqv.hasQualityMeasurement)
    }
    assert float(measured["suppressed-cell-share"]) == pytest.approx(2 / 6, abs=1e-6)
    # an unchanged republish uploads nothing: the report holds no time-of-run facts
    assert not publish_dataset(env.settings, env.ds, portal=env.portal()).uploaded
