"""dbt build over hand-made bronze Delta tables: checks, quarantine, pseudonyms, suppression."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import shutil
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from data_contracts import dataset, source_tables
from dbt_project.runner import DBT_PROJECT, dbt_env, run_dbt
from lakehouse.core import releases
from lakehouse.core.lake import read_table
from lakehouse.core.settings import Settings
from publish.lineage import input_versions
from tests.bronze import write_bronze

KEY = "test-only-pseudonym-key-0123456789abcdef"
AT = datetime(2026, 5, 1, tzinfo=UTC)


def _citizen(n: int, sex: int = 1, born: date = date(1996, 3, 1), **over: object) -> dict:
    row = {
        "registry_id": n,
        "citizen_id": f"0010960{n:05d}",
        "full_name": "Nguyễn Văn A",
        "date_of_birth": born,
        "sex": sex,
        "ethnicity_code": "01",
        "phone": "0912345678",
        "address_line": "Số 1 Tràng Tiền",
        "province_code": "01",
        "district_code": "001",
        "ward_code": "00001",
        "updated_at": AT,
        "_batch_id": "b1",
        "_ingested_at": AT,
    }
    return {**row, **over}


CITIZENS = (
    [_citizen(i) for i in range(1, 13)]  # 12 men aged 30 in Hà Nội: published
    + [_citizen(i, sex=2) for i in range(13, 16)]  # 3 women: suppressed
    + [_citizen(1, registry_id=99, updated_at=datetime(2025, 1, 1, tzinfo=UTC))]  # older duplicate of citizen 1
    + [
        _citizen(20, citizen_id=None),
        _citizen(21, citizen_id="12345"),
        _citizen(22, born=date(2099, 1, 1)),
        _citizen(23, sex=9),
        _citizen(24, province_code="99"),
    ]
)
REASONS = {  # the contract's rules, compiled (data_contracts/quality.py), then the crosswalk
    20: "citizen_id_present: citizen_id is NULL",
    21: "citizen_id_format: citizen_id does not match ^[0-9]{12}$",
    22: "date_of_birth_plausible: date_of_birth fails date_of_birth BETWEEN DATE'1900-01-01' AND current_date()",
    23: "sex_code: sex not in [1, 2]",
    24: "province_code unknown in the 2025 crosswalk",
}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, monkeypatch_module) -> Settings:
    var = tmp_path_factory.mktemp("var")
    settings = dataclasses.replace(Settings.from_env(), var_dir=var, lake_root=var / "lake")
    for table in source_tables():
        rows = CITIZENS if table.qualified_name == "population.citizen" else []
        write_bronze(settings.lake_root, table, rows)
    monkeypatch_module.setenv("LAKEHOUSE_PSEUDONYM_KEY", KEY)
    monkeypatch_module.setenv("DBT_DUCKDB_PATH", str(var / "dbt.duckdb"))
    assert run_dbt(settings, extra_vars={"reference_date": "2026-07-01"}) == 0
    return settings


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def test_gold_counts_and_suppression(built: Settings) -> None:
    gold, _ = read_table(built.lake_root / "gold" / "population_by_province_age_sex")
    rows = {(r["province_code_2025"], r["age_band"], r["sex"]): r for r in gold.to_pylist()}
    # 3 women are below the threshold; the 12 men are withheld too, else the band's total gives the 3 away
    assert rows[("01", "30-34", "female")]["population"] is None and rows[("01", "30-34", "female")]["suppressed"]
    assert rows[("01", "30-34", "male")]["population"] is None and rows[("01", "30-34", "male")]["suppressed"]
    silver, _ = read_table(built.lake_root / "silver" / "population" / "residents")
    assert sorted(silver["sex"].to_pylist()).count("male") == 12
    assert rows[("01", "30-34", "male")]["province_name_2025"] == "Thành phố Hà Nội"
    assert len(rows) == 2


def test_quarantine_holds_each_defect_with_its_reason(built: Settings) -> None:
    quarantine, _ = read_table(built.lake_root / "quarantine" / "population" / "residents")
    assert {r["registry_id"]: r["reject_reason"] for r in quarantine.to_pylist()} == REASONS


def test_silver_is_pseudonymised_without_direct_identifiers(built: Settings) -> None:
    silver, _ = read_table(built.lake_root / "silver" / "population" / "residents")
    assert not {"citizen_id", "full_name", "date_of_birth", "phone", "address_line"} & set(silver.column_names)
    expected = {hmac.new(KEY.encode(), f"0010960{i:05d}".encode(), hashlib.sha256).hexdigest() for i in range(1, 16)}
    assert set(silver["person_pseudonym"].to_pylist()) == expected  # 15 people, the duplicate collapsed


def test_a_rebuild_over_unchanged_inputs_commits_no_new_version(built: Settings) -> None:
    path = built.lake_root / "gold" / "population_by_province_age_sex"
    before, version = read_table(path)
    assert run_dbt(built, select=["population__by_province_age_sex"], extra_vars={"reference_date": "2026-07-01"}) == 0
    after, same_version = read_table(path)
    assert same_version == version and after.to_pylist() == before.to_pylist()
    # Five years on, every citizen is in the next age band: new contents, a new version (silver
    # computes the ages, so the gold model is rebuilt with its ancestors).
    assert run_dbt(built, select=["+population__by_province_age_sex"], extra_vars={"reference_date": "2031-07-01"}) == 0
    moved, new_version = read_table(path)
    assert new_version == version + 1 and moved.to_pylist() != before.to_pylist()
    assert DeltaTable(str(path)).history()[0]["operation"] in ("WRITE", "CREATE OR REPLACE TABLE")
    # back to the first reference date: the contents of `version` again, committed as a new version
    assert run_dbt(built, select=["+population__by_province_age_sex"], extra_vars={"reference_date": "2026-07-01"}) == 0
    again, last = read_table(path)
    assert last == version + 2 and again.to_pylist() == before.to_pylist()


def test_missing_key_fails_clearly(built: Settings) -> None:
    env = dbt_env(built)
    del env["LAKEHOUSE_PSEUDONYM_KEY"]
    dbt = Path(sys.executable).with_name("dbt")
    proc = subprocess.run(
        [
            str(dbt),
            "run",
            "--select",
            "int_population__residents",
            "--project-dir",
            str(DBT_PROJECT),
            "--profiles-dir",
            str(DBT_PROJECT),
        ],
        env=env,
        cwd=DBT_PROJECT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode != 0
    assert "LAKEHOUSE_PSEUDONYM_KEY is not set" in proc.stdout + proc.stderr


def test_key_never_reaches_artifacts_logs_or_the_lake(built: Settings) -> None:
    needle = KEY.encode()
    places = [DBT_PROJECT / "target", DBT_PROJECT / "logs", built.var_dir]
    for place in places:
        for path in (p for p in place.rglob("*") if p.is_file()) if place.exists() else []:
            assert needle not in path.read_bytes(), f"pseudonymisation key found in {path}"


def test_lineage_lists_the_delta_tables_a_dataset_was_built_from(built: Settings) -> None:
    versions = input_versions(dataset("population_by_province_age_sex"), built.lake_root)
    assert versions["silver/population/residents"] is not None
    assert versions["bronze/population/citizen"] == 0


def test_a_cell_that_moved_by_less_than_the_threshold_since_its_release_is_withheld(built: Settings) -> None:
    """The second release after a changed source: 12 men were released as 10 (two arrived since), so the
    12 would identify the two; dbt withholds it, and the women's 3 with it (else the line gives it back).
    A threshold of 3 makes both cells publishable to begin with (`run`: the contract's tests ask 10)."""
    path = built.lake_root / "gold" / "population_by_province_age_sex"
    select = ["int_population__population_by_province_age_sex_cells", "population__by_province_age_sex"]
    small = {"reference_date": "2026-07-01", "min_cell_count": 3}
    try:
        assert run_dbt(built, "run", select, small) == 0
        first, version = read_table(path)
        assert {r["sex"]: r["population"] for r in first.to_pylist()} == {"female": 3, "male": 12}
        as_released = pa.array([10 if r["sex"] == "male" else r["population"] for r in first.to_pylist()], pa.int64())
        releases.record(
            built.lake_root, "population_by_province_age_sex", version, first.set_column(4, "population", as_released)
        )
        assert run_dbt(built, "run", select, small) == 0
        second, _ = read_table(path)
        assert all(r["suppressed"] and r["population"] is None for r in second.to_pylist())
    finally:
        shutil.rmtree(releases.releases_dir(built.lake_root), ignore_errors=True)
        assert run_dbt(built, "run", select, {"reference_date": "2026-07-01"}) == 0
