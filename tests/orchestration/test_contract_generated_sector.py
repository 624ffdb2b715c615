"""A sector published from contract YAML only: no SQL and no Python written for it. The contracts in
tests/fixtures/contracts_social (a source table with a head-of-household citizen ID and name, pre-2025
ward codes and a benefit amount; a dataset counting households and summing benefits by 2025 ward) go
through the real DAGs (`airflow dags test`: ingest__social, lakehouse_transform, lakehouse_publish) to
a released dataset on the test CKAN. The test only creates and fills the source table."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import os
import subprocess
from collections import defaultdict
from pathlib import Path

import ckanapi
import psycopg
import pytest
import requests

from data_contracts import datasets
from lakehouse.core.lake import read_table
from lakehouse.core.settings import REPO_ROOT, Settings
from tests.bronze import write_bronze

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "contracts_social"
SEEDS = REPO_ROOT / "dbt_project" / "seeds" / "admin_units"
DB = "social_fixture"
DATASET = "household_benefit_by_ward"
KEY = "test-only-pseudonym-key-0123456789abcdef"
# Legacy (pre-2025) ward -> households. 00001 and 00037 merged into 2025 ward 00097 (20), 00040 and
# 00043 into 00070 (25); 00073 (4) is below the threshold and 00004 (11) is withheld with it (else the
# province's total gives it away); 00013 has no 2025 match and is not counted.
HOUSEHOLDS = {"00001": 12, "00037": 8, "00040": 15, "00043": 10, "00073": 4, "00004": 11, "00013": 6}
BAD_IDS = 3  # heads with a malformed citizen ID: quarantined at ingestion


def _rows() -> list[tuple]:
    rows, n = [], 0
    for ward, count in HOUSEHOLDS.items():
        for _ in range(count):
            n += 1
            rows.append((n, f"0010{n:08d}", f"Trần Thị Hộ{n}", 1 + n % 2, ward, 500_000 + (n % 7) * 125_000))
    for i in range(BAD_IDS):
        n += 1
        rows.append((n, f"unknown{i}", f"Lê Văn Sai{i}", 1, "00001", 900_000))
    return rows


@pytest.fixture
def social_source() -> list[tuple]:
    base = Settings.from_env().postgres_url
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.execute(f"CREATE DATABASE {DB}")
    rows = _rows()
    with psycopg.connect(f"{base}/{DB}") as conn:
        conn.execute(
            "CREATE TABLE household_benefit (household_id bigint PRIMARY KEY, head_citizen_id varchar(12), "
            "head_full_name varchar(100), head_sex smallint, ward_code varchar(5), benefit_vnd bigint, "
            "updated_at timestamp NOT NULL DEFAULT timestamp '2026-06-01')"
        )
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO household_benefit (household_id, head_citizen_id, head_full_name, head_sex, ward_code, "
                "benefit_vnd) VALUES (%s, %s, %s, %s, %s, %s)",
                rows,
            )
    return rows


def _empty_bronze_for_the_other_sectors(env: dict[str, str], lake_root: Path) -> None:
    """The dbt project builds every sector: the others get empty bronze tables (their ingestion is tested
    elsewhere), so the run is about the generated sector alone."""
    listing = subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), "contracts"], env=env, capture_output=True, text=True, check=True
    )
    from data_contracts import source_tables  # the repo's own contracts (this process has no fixture dirs)

    assert "social.household_benefit" in listing.stdout
    for table in source_tables():
        write_bronze(lake_root, table, [])


def _dags_test(dag_id: str, env: dict[str, str]) -> None:
    run = subprocess.run(
        ["bash", str(REPO_ROOT / "infra" / "airflow.sh"), "test", dag_id],
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )
    assert run.returncode == 0, f"{dag_id}: " + run.stdout[-4000:] + run.stderr[-3000:]


def _ward_2025() -> dict[str, tuple[str, str]]:
    with (SEEDS / "ward_crosswalk_2025.csv").open(encoding="utf-8") as f:
        return {r["legacy_ward_code"]: (r["province_code_2025"], r["ward_code_2025"]) for r in csv.DictReader(f)}


def test_a_sector_defined_only_in_yaml_is_released_on_ckan(social_source, ckan_portal, tmp_path: Path) -> None:
    var = tmp_path / "var"
    env = {
        **os.environ,
        "LAKEHOUSE_CONTRACTS_DIRS": str(FIXTURES),
        "LAKEHOUSE_VAR": str(var),
        "LAKE_ROOT": str(var / "lake"),
        "AIRFLOW_HOME": str(var / "airflow"),
        "CKAN_URL": ckan_portal.url,
        "CKAN_API_TOKEN": ckan_portal.token,
        "LAKEHOUSE_PSEUDONYM_KEY": KEY,
    }
    _empty_bronze_for_the_other_sectors(env, var / "lake")
    ckan = ckanapi.RemoteCKAN(ckan_portal.url, apikey=ckan_portal.token)
    try:
        for dag_id in ("ingest__social", "lakehouse_transform", "lakehouse_publish"):
            _dags_test(dag_id, env)

        # Released: the CSV researchers download, with 2025 units and small cells withheld.
        package = ckan.action.package_show(id=DATASET)
        assert not package["private"] and package["organization"]["name"] == "ministry-of-home-affairs"
        url = next(r["url"] for r in package["resources"] if r["format"].lower() == "csv")
        text = requests.get(url, timeout=30).content.decode("utf-8")
        released = list(csv.DictReader(io.StringIO(text)))
        assert list(released[0]) == [
            "province_code_2025",
            "province_name_2025",
            "ward_code_2025",
            "ward_name_2025",
            "households",
            "benefit_vnd",
            "suppressed",
        ]
        cells = {r["ward_code_2025"]: r for r in released}
        assert set(cells) == {"00097", "00070", "00073", "00004"}  # 2025 wards; 00013 had no match
        assert {r["province_code_2025"] for r in released} == {"01"} and cells["00097"]["ward_name_2025"]
        for withheld in ("00073", "00004"):  # small cell, and its complement in the province's line
            assert cells[withheld]["suppressed"] == "true" and cells[withheld]["households"] == ""
            assert cells[withheld]["benefit_vnd"] == ""

        # The sums are right against the source (valid heads only; wards mapped to 2025).
        to_2025 = _ward_2025()
        expected_sum: dict[str, int] = defaultdict(int)
        expected_households: dict[str, int] = defaultdict(int)
        for _, head_id, _, _, ward, benefit in social_source:
            if head_id.isdigit() and to_2025[ward][1]:
                expected_sum[to_2025[ward][1]] += benefit
                expected_households[to_2025[ward][1]] += 1
        for ward in ("00097", "00070"):
            assert cells[ward]["suppressed"] == "false"
            assert int(cells[ward]["households"]) == expected_households[ward]
            assert int(cells[ward]["benefit_vnd"]) == expected_sum[ward]

        # No name, raw citizen ID or pseudonym reaches gold or the portal; silver holds only pseudonyms.
        gold, _ = read_table(var / "lake" / "gold" / DATASET)
        gold_text = str(gold.to_pylist())
        pseudonyms = {hmac.new(KEY.encode(), r[1].encode(), hashlib.sha256).hexdigest() for r in social_source}
        for _, head_id, name, *_ in social_source:
            for needle in (head_id, name, *pseudonyms):
                assert needle not in text and needle not in gold_text
        silver, _ = read_table(var / "lake" / "silver" / "social" / "household_benefits")
        assert not {"head_citizen_id", "head_full_name"} & set(silver.column_names)
        assert set(silver["person_pseudonym"].to_pylist()) <= pseudonyms
        assert silver.num_rows == len(social_source) - BAD_IDS
        assert sum(silver["ward_unmatched"].to_pylist()) == HOUSEHOLDS["00013"]
        quarantine, _ = read_table(var / "lake" / "quarantine" / "social" / "household_benefit")
        assert quarantine.num_rows == BAD_IDS
    finally:
        # The publish DAG also released the (empty) datasets of the other sectors: leave the shared test
        # portal as it was. The manifest was parsed with the fixture contracts: the next DAG parse or dbt
        # command generates for the contracts it sees (contracts fingerprint), so nothing else is undone.
        for name in [DATASET, *(d.name for d in datasets())]:
            with contextlib.suppress(ckanapi.NotFound):
                ckan.action.dataset_purge(id=name)
