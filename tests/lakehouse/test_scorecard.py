"""The data-governance scorecard per ministry, computed from what the lakehouse knows: a table in a
ministry's source database that no contract describes lowers its coverage, nothing ingested fails the
freshness SLA, nothing released scores no open data; published as a page on the real CKAN."""

from __future__ import annotations

import dataclasses
import os
import subprocess

import ckanapi
import psycopg

from lakehouse.core.settings import REPO_ROOT, Settings
from lakehouse.scorecard import scorecard

EDUCATION = "ministry-of-education-and-training"


def test_scores_follow_the_lake_and_the_sources_and_the_page_is_published(tmp_path, ckan_portal) -> None:
    settings = dataclasses.replace(Settings.from_env(), lake_root=tmp_path / "lake", var_dir=tmp_path)
    empty = {s.ministry: s for s in scorecard(settings)}
    assert empty[EDUCATION].freshness_sla == 0.0 and empty[EDUCATION].open_data == 0.0  # nothing ingested
    assert empty[EDUCATION].classification == 1.0 and empty[EDUCATION].level == 2

    with psycopg.connect(f"{settings.postgres_url}/education", autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS scorecard_stray (id int)")  # a table no contract describes
        try:
            stray = {s.ministry: s for s in scorecard(settings)}
        finally:
            conn.execute("DROP TABLE scorecard_stray")
    assert stray[EDUCATION].contract_coverage < empty[EDUCATION].contract_coverage
    assert stray["ministry-of-health"].contract_coverage == empty["ministry-of-health"].contract_coverage

    env = {
        **os.environ,
        "LAKE_ROOT": str(settings.lake_root),
        "LAKEHOUSE_VAR": str(tmp_path),
        "CKAN_URL": ckan_portal.url,
        "CKAN_API_TOKEN": ckan_portal.token,
    }
    shown = subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), "scorecard", "--publish"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{EDUCATION:<36} level 2" in shown and "published:" in shown
    page = ckanapi.RemoteCKAN(ckan_portal.url).action.package_show(id="data-governance-scorecard")
    assert EDUCATION in page["notes"] and "| Ministry | Level |" in page["notes"]
    assert sorted(r["name"] for r in page["resources"]) == ["scorecard.csv", "scorecard.json"]
