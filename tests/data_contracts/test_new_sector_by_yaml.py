"""A new sector needs only a contract: ingest one the code has never heard of, with no code change."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pytest

from lakehouse.core.lake import read_table
from lakehouse.core.settings import REPO_ROOT, Settings

FIXTURES = REPO_ROOT / "tests" / "fixtures" / "contracts"
DB = "agriculture_fixture"


@pytest.fixture
def farm_source() -> None:
    base = Settings.from_env().postgres_url
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {DB}")
        admin.execute(f"CREATE DATABASE {DB}")
    with psycopg.connect(f"{base}/{DB}") as conn:
        conn.execute(
            "CREATE TABLE farm_holding (holding_id bigint, farmer_citizen_id varchar(12), crop varchar(20), "
            "area_ha numeric(10,2), updated_at timestamp)"
        )
        conn.execute(
            "INSERT INTO farm_holding SELECT i, lpad(i::text, 12, '0'), (ARRAY['rice','coffee','pepper'])[1 + i % 3], "
            "(i % 50) / 10.0 + 0.5, timestamp '2026-06-01' + i * interval '1 minute' FROM generate_series(1, 500) i"
        )
        conn.execute("UPDATE farm_holding SET farmer_citizen_id = 'unknown' WHERE holding_id <= 4")


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_sector_defined_only_in_yaml_is_listed_validated_and_ingested(farm_source, tmp_path: Path) -> None:
    env = {**os.environ, "LAKEHOUSE_CONTRACTS_DIRS": str(FIXTURES), "LAKE_ROOT": str(tmp_path / "lake")}
    listed = _cli("contracts", env=env)
    assert listed.returncode == 0 and "agriculture.farm_holding" in listed.stdout
    assert _cli("contracts", "validate", env=env).returncode == 0
    ingested = _cli("ingest", "--sector", "agriculture", "--batch-version", "1", env=env)
    assert ingested.returncode == 0, ingested.stderr[-2000:]
    assert "agriculture.farm_holding" in ingested.stdout and "quarantined      4" in ingested.stdout
    bronze, _ = read_table(tmp_path / "lake" / "bronze" / "agriculture" / "farm_holding")
    assert bronze.num_rows == 496
    assert sorted(set(bronze["crop"].to_pylist())) == ["coffee", "pepper", "rice"]
    assert float(bronze["area_ha"].to_pylist()[0]) > 0
