"""Silver generated from semantic tags alone, for each kind of administrative unit: a source contract
written here (no SQL), its bronze table, and dbt builds staging + silver with the 2025 units."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
import yaml
from deltalake import write_deltalake

from dbt_project.runner import dbt
from lakehouse.core.lake import bronze_path, read_table, silver_path
from lakehouse.core.settings import Settings

KEY = "test-only-pseudonym-key-0123456789abcdef"
AT = datetime(2026, 5, 1, tzinfo=UTC)
# entity -> (unit, code system, codes: a known one and one without a match)
UNITS = {
    "by_province_2025": ("province", "2025", ["01", "99"]),
    "by_district": ("district", "legacy", ["001", "999"]),
    "by_ward_2025": ("ward", "2025", ["00097", "99999"]),
}


def _contract(entity: str, unit: str, system: str) -> dict:
    prop = {"name": "unit_code", "physicalType": "varchar(5)", "classification": "quasi-identifier"}
    prop["customProperties"] = [{"property": "adminUnit", "value": unit}, {"property": "codeSystem", "value": system}]
    return {
        "apiVersion": "v3.0.2",
        "kind": "DataContract",
        "id": f"urn:test:source:units:{entity}",
        "name": f"units.{entity}",
        "version": "1.0.0",
        "status": "active",
        "servers": [{"server": "units", "type": "postgres", "database": "units_fixture"}],
        "customProperties": [
            {"property": "sector", "value": "units"},
            {"property": "ministry", "value": "ministry-of-home-affairs"},
        ],
        "schema": [
            {
                "name": entity,
                "physicalName": entity,
                "physicalType": "table",
                "customProperties": [{"property": "silverEntity", "value": entity}],
                "properties": [
                    {"name": "row_id", "physicalType": "bigint", "primaryKey": True, "classification": "internal"},
                    {
                        "name": "citizen_id",
                        "physicalType": "varchar(12)",
                        "classification": "direct-identifier",
                        "customProperties": [{"property": "personKey", "value": True}],
                    },
                    {"name": "phone", "physicalType": "varchar(12)", "classification": "direct-identifier"},
                    prop,
                ],
            }
        ],
    }


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    contracts = tmp_path / "contracts"
    settings = dataclasses.replace(Settings.from_env(), var_dir=tmp_path, lake_root=tmp_path / "lake")
    for entity, (unit, system, codes) in UNITS.items():
        path = contracts / "sources" / "units" / f"{entity}.odcs.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(yaml.safe_dump(_contract(entity, unit, system)))
        rows = [
            {"row_id": i, "citizen_id": f"00109000000{i}", "phone": "0912345678", "unit_code": code}
            for i, code in enumerate(codes)
        ]
        table = pa.Table.from_pylist(rows).append_column("_batch_id", pa.array(["b1"] * len(rows)))
        table = table.append_column("_ingested_at", pa.array([AT] * len(rows), pa.timestamp("us", tz="UTC")))
        write_deltalake(str(bronze_path(settings.lake_root, "units", entity)), table)
    monkeypatch.setenv("LAKEHOUSE_CONTRACTS_DIRS", str(contracts))
    monkeypatch.setenv("LAKEHOUSE_PSEUDONYM_KEY", KEY)
    monkeypatch.setenv("DBT_DUCKDB_PATH", str(tmp_path / "dbt.duckdb"))
    # cautious: not the tests of the seeds that also read other sectors' models
    selected = ["build", "--indirect-selection", "cautious", "--select", *[f"+int_units__{e}" for e in UNITS]]
    assert dbt(settings, selected) == 0
    return settings


def test_each_unit_kind_maps_to_the_2025_province_and_flags_what_has_no_match(built: Settings) -> None:
    pseudonyms = {hmac.new(KEY.encode(), f"00109000000{i}".encode(), hashlib.sha256).hexdigest() for i in (0, 1)}
    for entity, (unit, _, codes) in UNITS.items():
        silver, _ = read_table(silver_path(built.lake_root, "units", entity))
        assert not {"citizen_id", "phone"} & set(silver.column_names), entity
        assert set(silver["person_pseudonym"].to_pylist()) == pseudonyms
        rows = {r["unit_code"]: r for r in silver.to_pylist()}
        assert rows[codes[0]]["province_code_2025"] == "01" and not rows[codes[0]][f"{unit}_unmatched"], entity
        assert rows[codes[1]]["province_code_2025"] is None and rows[codes[1]][f"{unit}_unmatched"], entity
    wards, _ = read_table(silver_path(built.lake_root, "units", "by_ward_2025"))
    assert {r["unit_code"]: r["ward_code_2025"] for r in wards.to_pylist()} == {"00097": "00097", "99999": None}
