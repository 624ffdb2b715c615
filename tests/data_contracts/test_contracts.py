"""Contracts parse with the ODCS models and carry what every stage needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from data_contracts import (
    ContractError,
    dataset,
    datasets,
    identifier_patterns,
    source_table,
    source_tables,
    validate_all,
)
from data_contracts.odcs import parse_source as _source


def test_one_source_table_per_sector_with_partition_and_watermark() -> None:
    tables = source_tables()
    assert {t.sector for t in tables} == {"population", "health", "education", "transport"}
    for t in tables:
        assert t.partition_column and t.column(t.partition_column).physical_type == "bigint"
        assert t.watermark_column == "updated_at"
        assert any(c.classification == "direct-identifier" for c in t.columns)


def test_dataset_contract_has_publishing_settings() -> None:
    d = dataset("population_by_province_age_sex")
    assert d.min_cell_count >= 5 and d.count_column in [c.name for c in d.columns]
    assert all(c.classification == "public" for c in d.columns)
    assert d in datasets() and len({x.name for x in datasets()}) == len(datasets())


def test_unknown_names_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"known: .*population\.citizen"):
        source_table("agriculture")
    bad = tmp_path / "bad.odcs.yaml"
    bad.write_text("apiVersion: v3.0.2\nkind: DataContract\nid: x\nstatus: active\n")
    with pytest.raises(ContractError, match=re.escape(str(bad))):
        _source(bad)


GOOD = (
    Path(__file__).resolve().parents[1]
    / "fixtures"
    / "contracts"
    / "sources"
    / "agriculture"
    / "farm_holding.odcs.yaml"
)


@pytest.mark.parametrize(
    ("old", "new", "where", "fix"),
    [
        ("  - name: crop\n", "  - name: crop\n   bad: [\n", r"line \d+, column \d+: invalid YAML", "correct"),
        (
            "physicalType: varchar(20)",
            "physicalType: money",
            r"schema\[0\]\.properties\[2\]\.physicalType: unknown type",
            "use one of",
        ),
        ("    primaryKey: true\n", "", r"schema\[0\]\.properties: no primary key", "primaryKey: true"),
        ("    classification: public\n", "", r"schema\[0\]\.properties\[2\]\.classification", "classify every column"),
        (
            "value: incremental",
            "value: sometimes",
            r"customProperties\.ingestionMode: 'sometimes'",
            "set ingestionMode",
        ),
        (
            "required: true",
            "required: maybe",
            r"schema\[0\]\.properties\[4\]\.required: Input should be a valid boolean",
            "ODCS",
        ),
        (
            "    classification: public\n",
            "    classification: public\n    customProperties: [{property: personKey, value: true}]\n",
            r"properties\[2\]\.customProperties\.personKey: crop is not a direct-identifier",
            "classify it so",
        ),
        (
            "    classification: quasi-identifier\n",
            "    classification: quasi-identifier\n    customProperties: [{property: adminUnit, value: commune}]\n",
            r"properties\[3\]\.customProperties\.adminUnit: 'commune'",
            "province",
        ),
    ],
    ids=[
        "yaml",
        "unknown-type",
        "no-primary-key",
        "no-classification",
        "bad-setting",
        "bad-odcs-field",
        "person-key-not-an-identifier",
        "unknown-admin-unit",
    ],
)
def test_invalid_contract_names_file_path_and_fix(tmp_path: Path, old: str, new: str, where: str, fix: str) -> None:
    text = GOOD.read_text(encoding="utf-8")
    assert old in text
    bad = tmp_path / "farm_holding.odcs.yaml"
    bad.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ContractError) as err:
        _source(bad)
    message = str(err.value)
    assert str(bad) in message
    assert re.search(where, message), message
    assert "fix:" in message and fix in message


def test_validate_all_reports_every_file(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "sources" / "agriculture"
    folder.mkdir(parents=True)
    text = GOOD.read_text(encoding="utf-8")
    (folder / "a.odcs.yaml").write_text(text.replace("physicalType: varchar(20)", "physicalType: money"))
    (folder / "b.odcs.yaml").write_text(text.replace("    primaryKey: true\n", "").replace("farm_holding", "farm_b"))
    monkeypatch.setenv("LAKEHOUSE_CONTRACTS_DIRS", str(tmp_path))
    problems = validate_all()
    assert len(problems) == 2 and "a.odcs.yaml" in problems[0] and "b.odcs.yaml" in problems[1]


def test_identifier_shapes_come_from_the_source_contracts() -> None:
    patterns = {label: re.compile(p) for label, p in identifier_patterns().items()}
    assert {"citizen_id", "phone", "card_no", "plate_no", "date_of_birth", "pseudonym"} <= set(patterns)
    assert patterns["phone"].search("Hotline: +84 912.345.678") and not patterns["phone"].search("2025-2026")
    assert patterns["plate_no"].search("29A-123.45") and patterns["card_no"].search("DN4010123456789")
    assert not any(p.search("Thành phố Hà Nội 01 00-04 female 123") for p in patterns.values())


def test_every_dataset_declares_what_it_counts() -> None:
    pupils = {d.name for d in datasets() if d.population and d.population.name == "enrolled-pupils"}
    assert pupils == {"enrolment_by_province_school_level", "pupils_by_province_insurance", "enrolment_microdata"}
    vehicles = dataset("vehicle_registrations_by_province_type").population
    assert vehicles is not None and vehicles.protected_unit == "owner" and vehicles.dominance_share == 0.5
    micro = dataset("enrolment_microdata")
    assert "school_year" in micro.dimensions and dict(micro.not_quasi_identifiers).keys() == {
        "record_no",
        "locally_suppressed",
    }


def test_datasets_say_what_generates_their_models() -> None:
    population = dataset("population_by_province_age_sex")
    assert population.generated_cells and population.source == "population.residents"
    assert population.measure == "count" and population.cells_model is None
    vehicles = dataset("vehicle_registrations_by_province_type")
    assert not vehicles.generated_cells and vehicles.cells_model.startswith("int_transport__")
    assert vehicles.disclosure_persons_column == "owners"
    micro = dataset("enrolment_microdata")
    assert micro.cells_model == "int_education__enrolment_microdata_prepared" and micro.suppress_first == "age_band"


def test_the_social_fixture_tags_its_person_key_unit_and_code_list(monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_CONTRACTS_DIRS", str(GOOD.parents[3] / "contracts_social"))
    table = source_table("social", "household_benefit")
    assert table.silver_entity == "household_benefits" and table.person_key.name == "head_citizen_id"
    assert (table.admin_unit.name, table.admin_unit.admin_unit, table.admin_unit.code_system) == (
        "ward_code",
        "ward",
        "legacy",
    )
    assert table.column("head_sex").code_list == "sex"
    benefits = dataset("household_benefit_by_ward")
    assert (benefits.measure, benefits.measure_column, benefits.measure_as) == ("sum", "benefit_vnd", "benefit_vnd")
