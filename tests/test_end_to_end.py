"""The whole chain on real components: sector DBs -> Spark -> bronze -> dbt -> gold -> CKAN, run by
Airflow (`airflow dags test national_open_data`), then its stages again over unchanged sources. The CSV
researchers download must equal the gold table.

The chain also carries a sector defined only in contract YAML, with no SQL and no Python written for
it: tests/fixtures/contracts_social (a source table with a head-of-household citizen ID and name,
pre-2025 ward codes and a benefit amount; a dataset counting households and summing benefits by 2025
ward). The test only creates and fills its source table; the DAG's tasks are those of ingest__social,
lakehouse_transform and lakehouse_publish (orchestration/pipeline.py builds both from the same parts)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import os
import re
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import ckanapi
import psycopg
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
import rdflib
import requests
from deltalake import DeltaTable

from data_contracts import dataset, datasets, source_tables
from lakehouse.core.changelog import read_current
from lakehouse.core.lake import read_table
from lakehouse.core.settings import REPO_ROOT, Settings
from publish.disclosure import IDENTIFIER_PATTERNS, direct_identifier_columns
from synthetic.sectors import seed

DATASET = dataset("population_by_province_age_sex")
TEST_KEY = "test-only-pseudonym-key-0123456789abcdef"

SOCIAL_CONTRACTS = REPO_ROOT / "tests" / "fixtures" / "contracts_social"
SOCIAL_DB = "social_fixture"
SOCIAL_DATASET = "household_benefit_by_ward"
# Legacy (pre-2025) ward -> households. 00001 and 00037 merged into 2025 ward 00097 (20), 00040 and
# 00043 into 00070 (25); 00073 (4) is below the threshold and 00004 (11) is withheld with it (else the
# province's total gives it away); 00013 has no 2025 match and is not counted.
HOUSEHOLDS = {"00001": 12, "00037": 8, "00040": 15, "00043": 10, "00073": 4, "00004": 11, "00013": 6}
BAD_IDS = 3  # heads with a malformed citizen ID: quarantined at ingestion


def _social_rows() -> list[tuple]:
    rows, n = [], 0
    for ward, count in HOUSEHOLDS.items():
        for _ in range(count):
            n += 1
            rows.append((n, f"0010{n:08d}", f"Trần Thị Hộ{n}", 1 + n % 2, ward, 500_000 + (n % 7) * 125_000))
    for i in range(BAD_IDS):
        n += 1
        rows.append((n, f"unknown{i}", f"Lê Văn Sai{i}", 1, "00001", 900_000))
    return rows


@pytest.fixture(scope="module")
def social_source() -> list[tuple]:
    """The YAML-only sector's source table, filled; its rows."""
    postgres_url = Settings.from_env().postgres_url
    with psycopg.connect(f"{postgres_url}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {SOCIAL_DB}")
        admin.execute(f"CREATE DATABASE {SOCIAL_DB}")
    rows = _social_rows()
    with psycopg.connect(f"{postgres_url}/{SOCIAL_DB}") as conn:
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


@pytest.fixture(scope="module")
def chain_env(tmp_path_factory: pytest.TempPathFactory, ckan_portal) -> Iterator[dict[str, str]]:
    var = tmp_path_factory.mktemp("var")
    env = dict(os.environ)
    env.update(
        {
            "LAKEHOUSE_VAR": str(var),
            "LAKE_ROOT": str(var / "lake"),
            "AIRFLOW_HOME": str(REPO_ROOT / "var" / "airflow-test"),
            "CKAN_URL": ckan_portal.url,
            "CKAN_API_TOKEN": ckan_portal.token,
            "LAKEHOUSE_PSEUDONYM_KEY": TEST_KEY,
            "LAKEHOUSE_CONTRACTS_DIRS": str(SOCIAL_CONTRACTS),  # the YAML-only sector rides along
        }
    )
    yield env
    # leave the shared test portal with the repository's datasets only
    with contextlib.suppress(ckanapi.NotFound):
        ckanapi.RemoteCKAN(ckan_portal.url, apikey=ckan_portal.token).action.dataset_purge(id=SOCIAL_DATASET)


def _settings(env: dict[str, str]) -> Settings:
    return Settings(
        var_dir=Path(env["LAKEHOUSE_VAR"]),
        lake_root=Path(env["LAKE_ROOT"]),
        postgres_url=Settings.from_env().postgres_url,
        mariadb_url=Settings.from_env().mariadb_url,
        spark_master="local[2]",
        ckan_url=env["CKAN_URL"],
        ckan_token_file=Path(env["LAKEHOUSE_VAR"]) / "none",
    )


def _run_dag(env: dict[str, str]) -> None:
    proc = subprocess.run(
        ["bash", "infra/airflow.sh", "test", "national_open_data"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]


def _csv_resource(portal: ckanapi.RemoteCKAN) -> tuple[dict, list[dict]]:
    package = portal.action.package_show(id=DATASET.name)
    return package, [r for r in package["resources"] if r["name"] == f"{DATASET.name}.csv"]


@pytest.fixture(scope="module")
def first_run(chain_env: dict[str, str], social_source: list[tuple]) -> dict[str, int]:
    """Rows of each source table a snapshot keeps: all but the soft-deleted ones."""
    settings = _settings(chain_env)
    rows = seed(settings, scale=6000, dirty_share=0.03, seed=11).rows
    for table in source_tables():
        if table.policy.delete_detection == "soft_delete":
            assert table.server_type == "postgres"  # the demo's soft-deleting table
            with psycopg.connect(f"{settings.postgres_url}/{table.database}") as conn:
                gone = f"SELECT count(*) FROM {table.table} WHERE {table.policy.soft_delete_column} IS NOT NULL"
                rows[table.qualified_name] -= conn.execute(gone).fetchone()[0]
    _run_dag(chain_env)
    return rows


def test_published_csv_equals_gold_and_has_no_identifiers(chain_env, first_run, ckan_portal) -> None:
    settings = _settings(chain_env)
    gold, _ = read_table(DATASET.gold_path(settings.lake_root))
    assert gold.num_rows > 0
    portal = ckanapi.RemoteCKAN(ckan_portal.url, apikey=ckan_portal.token)
    _, csvs = _csv_resource(portal)
    assert len(csvs) == 1
    body = requests.get(csvs[0]["url"], timeout=30).content
    downloaded = pacsv.read_csv(
        io.BytesIO(body),
        convert_options=pacsv.ConvertOptions(column_types=gold.schema, strings_can_be_null=False),
    )
    assert downloaded.column_names == [c.name for c in DATASET.columns]
    assert not set(downloaded.column_names) & direct_identifier_columns()
    order = [(c, "ascending") for c in ("province_code_2025", "age_band", "sex")]
    assert downloaded.sort_by(order).to_pylist() == gold.sort_by(order).to_pylist()
    text = body.decode("utf-8")
    for pattern in IDENTIFIER_PATTERNS.values():
        assert not any(pattern.match(cell) for line in text.splitlines() for cell in line.split(","))
    published = pa.compute.drop_null(downloaded[DATASET.count_column]).to_pylist()
    assert published and min(published) >= DATASET.min_cell_count


def test_every_dataset_is_published_with_complete_provenance(chain_env, first_run, ckan_portal) -> None:
    settings = _settings(chain_env)
    portal = ckanapi.RemoteCKAN(ckan_portal.url, apikey=ckan_portal.token)
    for d in datasets():
        package = portal.action.package_show(id=d.name)
        _, version = read_table(d.gold_path(settings.lake_root))
        assert package["version"] == str(version) and not package["private"], d.name
        sources = json.loads(package["provenance_sources"])
        assert sources and all(s["contract"].startswith("urn:vn-lakehouse:source:") for s in sources), d.name
        assert all(isinstance(s["bronze_delta_version"], int) for s in sources), d.name
        checks = json.loads(package["provenance_dbt_checks"])
        assert checks and {c["status"] for c in checks} == {"pass"}, d.name
        assert package["disclosure_verdict"] == "passed" and package["provenance_code_revision"], d.name
        assert package["contact"][0]["email"] and package["temporal_coverage"] and package["spatial_coverage"]


def _bronze_and_quarantine(settings: Settings, table) -> tuple[int, int]:
    bronze = read_current(table.bronze_path(settings.lake_root), table.primary_key)
    quarantine = table.quarantine_path(settings.lake_root)
    rejected = read_table(quarantine)[0].num_rows if DeltaTable.is_deltatable(str(quarantine)) else 0
    return bronze.num_rows, rejected


def test_lineage_of_every_run_is_recorded_and_shown_with_the_release(chain_env, first_run, ckan_portal) -> None:
    """OpenLineage events of every run (Airflow's tasks, each ingestion, each dbt model writing a lake
    table), each lake table with its Delta version; the dataset page shows the path from the sector
    databases to the release, and its DCAT says prov:wasGeneratedBy."""
    var = Path(chain_env["LAKEHOUSE_VAR"])
    airflow = [json.loads(x) for x in (var / "openlineage" / "airflow.jsonl").read_text().splitlines()]
    assert {"START", "COMPLETE"} <= {e["eventType"] for e in airflow}
    assert any(e["job"]["name"].startswith("national_open_data.") for e in airflow)
    ours = [json.loads(x) for x in (var / "openlineage" / "events.jsonl").read_text().splitlines()]
    done = {e["job"]["name"]: e for e in ours if e["eventType"] == "COMPLETE"}
    ingest = done["ingest.population.citizen"]
    assert ingest["inputs"][0]["name"] == "population.public.citizen"
    assert ingest["inputs"][0]["namespace"].startswith("postgres://") and "@" not in ingest["inputs"][0]["namespace"]
    bronze = ingest["outputs"][0]
    assert bronze["name"] == "bronze/population/citizen" and bronze["facets"]["version"]["datasetVersion"]
    gold = done[f"dbt.{DATASET.dbt_model}"]
    assert gold["outputs"][0]["name"] == f"gold/{DATASET.name}"
    assert any(i["name"].startswith("silver/") for i in gold["inputs"])
    silver = next(
        e
        for name, e in done.items()
        if name.startswith("dbt.") and e["outputs"][0]["name"].startswith("silver/population")
    )
    assert "bronze/population/citizen" in {i["name"] for i in silver["inputs"]}

    package = ckanapi.RemoteCKAN(ckan_portal.url).action.package_show(id=DATASET.name)
    assert "Lineage: sector databases `postgres:population.public.citizen`" in package["provenance"]
    assert f"gold `gold/{DATASET.name}` v{package['version']} → this release" in package["provenance"]
    ttl = requests.get(f"{ckan_portal.url}/dataset/{DATASET.name}.ttl", timeout=30).text
    g = rdflib.Graph().parse(data=ttl, format="turtle")
    prov = rdflib.Namespace("http://www.w3.org/ns/prov#")
    used = {str(u) for a in g.objects(None, prov.wasGeneratedBy) for u in g.objects(a, prov.used)}
    assert any(u.startswith("urn:lakehouse:lake:bronze/population/citizen@v") for u in used), used


def test_bronze_and_quarantine_hold_every_source_row_once(chain_env, first_run) -> None:
    settings = _settings(chain_env)
    for table in source_tables():
        kept, rejected = _bronze_and_quarantine(settings, table)
        assert kept + rejected == first_run[table.qualified_name], table.qualified_name


def _lakehouse(env: dict[str, str], *args: str) -> str:
    """`bin/lakehouse ARGS` as the DAG's tasks run it; its output."""
    done = subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, f"lakehouse {' '.join(args)}: " + done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_a_second_cycle_over_unchanged_sources_duplicates_nothing_and_releases_nothing_new(
    chain_env, first_run, ckan_portal
) -> None:
    """The commands the DAG's tasks run, run again over unchanged sources: incremental tables find no
    change, full ones replace their snapshot with the same rows, no gold table gets a new version and no
    dataset a new release. (Repeated DAG runs in one Airflow: tests/orchestration/test_scheduler.py.)"""
    settings = _settings(chain_env)
    portal = ckanapi.RemoteCKAN(ckan_portal.url, apikey=ckan_portal.token)
    names = [*(d.name for d in datasets()), SOCIAL_DATASET]
    before = {t.qualified_name: _bronze_and_quarantine(settings, t) for t in source_tables()}
    gold = {n: read_table(settings.lake_root / "gold" / n)[1] for n in names}
    released = {n: portal.action.package_show(id=n)["version"] for n in names}
    for stage in (["ingest"], ["transform"], ["publish"]):
        _lakehouse(chain_env, *stage)
    for table in source_tables():
        assert _bronze_and_quarantine(settings, table) == before[table.qualified_name], table.qualified_name
    assert {n: read_table(settings.lake_root / "gold" / n)[1] for n in names} == gold
    assert {n: portal.action.package_show(id=n)["version"] for n in names} == released
    found = portal.action.package_search(q=f"name:{DATASET.name}", include_private=True)
    assert found["count"] == 1
    package, _ = _csv_resource(portal)
    resources = [r["name"] for r in package["resources"]]
    assert len(resources) == len(set(resources)) == 7  # CSV, Parquet, datapackage, dictionary, 2 reports, quality


def test_pii_scan_of_every_gold_table_and_export(chain_env, first_run) -> None:
    """No 12-digit ID, phone number, generated full name or exact date in any gold table or published file."""
    settings = _settings(chain_env)
    with psycopg.connect(f"{settings.postgres_url}/population") as conn:
        names = {r[0] for r in conn.execute("SELECT full_name FROM citizen").fetchall()}
    id_or_phone = re.compile(r"(?<!\d)(\d{12}|0\d{9})(?!\d)")
    exact_date = re.compile(r"\b(19|20)\d\d-\d\d-\d\d\b")
    tables = [p.parent for p in (settings.lake_root / "gold").glob("**/_delta_log")]
    assert len(tables) >= 2 * len(datasets())  # every dataset and its disclosure summary
    for path in tables:
        table, _ = read_table(path)
        for field in table.schema:
            assert not pa.types.is_date(field.type), f"{path}: date column {field.name}"
        for value in (str(v) for col in table.columns for v in col.to_pylist() if isinstance(v, str)):
            assert not id_or_phone.search(value) and value not in names, f"{path}: {value!r}"
    exports = [p for p in (settings.var_dir / "publish").glob("*/*") if p.suffix in (".csv", ".json", ".md")]
    # data, dictionary, datapackage.json, report JSON + MD, quality of each dataset (and the YAML sector's)
    assert len(exports) == 6 * (len(datasets()) + 1)
    for path in exports:
        text = path.read_text(encoding="utf-8")
        assert not id_or_phone.search(text), path
        assert not exact_date.search(text.replace(text[text.find('"gold_committed_at"') :][:60], "")), path
        assert not any(name in text for name in names), path


def _ward_2025() -> dict[str, tuple[str, str]]:
    seeds = REPO_ROOT / "dbt_project" / "seeds" / "admin_units"
    with (seeds / "ward_crosswalk_2025.csv").open(encoding="utf-8") as f:
        return {r["legacy_ward_code"]: (r["province_code_2025"], r["ward_code_2025"]) for r in csv.DictReader(f)}


def test_a_sector_defined_only_in_yaml_is_released_on_ckan(chain_env, social_source, first_run, ckan_portal) -> None:
    assert "social.household_benefit" in _lakehouse(chain_env, "contracts")

    # Released: the CSV researchers download, with 2025 units and small cells withheld.
    ckan = ckanapi.RemoteCKAN(ckan_portal.url, apikey=ckan_portal.token)
    package = ckan.action.package_show(id=SOCIAL_DATASET)
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
    lake = Path(chain_env["LAKE_ROOT"])
    gold, _ = read_table(lake / "gold" / SOCIAL_DATASET)
    gold_text = str(gold.to_pylist())
    pseudonyms = {hmac.new(TEST_KEY.encode(), r[1].encode(), hashlib.sha256).hexdigest() for r in social_source}
    for _, head_id, name, *_ in social_source:
        for needle in (head_id, name, *pseudonyms):
            assert needle not in text and needle not in gold_text
    silver, _ = read_table(lake / "silver" / "social" / "household_benefits")
    assert not {"head_citizen_id", "head_full_name"} & set(silver.column_names)
    assert set(silver["person_pseudonym"].to_pylist()) <= pseudonyms
    assert silver.num_rows == len(social_source) - BAD_IDS
    assert sum(silver["ward_unmatched"].to_pylist()) == HOUSEHOLDS["00013"]
    quarantine, _ = read_table(lake / "quarantine" / "social" / "household_benefit")
    assert quarantine.num_rows == BAD_IDS
