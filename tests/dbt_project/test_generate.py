"""The dbt files the contracts imply are generated, written idempotently, and state nothing twice."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import duckdb
import pytest
import yaml

from data_contracts import QualityRule, dataset, source_table
from data_contracts.quality import failing_condition, reject_reason
from dbt_project import generate
from dbt_project.runner import DBT_PROJECT
from lakehouse.core.settings import REPO_ROOT

SOCIAL = REPO_ROOT / "tests" / "fixtures" / "contracts_social"
MODELS = generate.DBT_PROJECT / "models"


def _doc(path: Path) -> dict:
    return yaml.safe_load(generate.render()[path])


def test_sources_carry_columns_keys_and_classification() -> None:
    doc = _doc(MODELS / "generated" / "staging" / "population" / "_population__sources.yml")
    table = next(t for t in doc["sources"][0]["tables"] if t["name"] == "citizen")
    contract = source_table("population", "citizen")
    assert [c["name"] for c in table["columns"]] == [c.name for c in contract.columns]
    by_name = {c["name"]: c for c in table["columns"]}
    assert by_name["registry_id"]["data_tests"] == ["not_null", "unique"]
    assert by_name["full_name"]["meta"]["classification"] == "direct-identifier"
    assert by_name["full_name"]["meta"]["description_vi"]


def test_open_dataset_models_get_an_enforced_contract_their_location_and_disclosure_tests() -> None:
    doc = _doc(MODELS / "generated" / "marts" / "_open_datasets__models.yml")
    models = {m["name"]: m for m in doc["models"]}
    population = models[dataset("population_by_province_age_sex").dbt_model]
    assert population["config"] == {"contract": {"enforced": True}, "location": "gold/population_by_province_age_sex"}
    assert [c["name"] for c in population["columns"]][-2:] == ["population", "suppressed"]
    assert {"no_small_cells": {"arguments": {"count_column": "population", "min_count": 10}}} in population[
        "data_tests"
    ]
    microdata = models[dataset("enrolment_microdata").dbt_model]
    assert microdata["data_tests"][1]["k_anonymity"]["arguments"]["k"] == 5


def test_every_dataset_gets_a_generated_disclosure_model_and_hand_written_gold_is_kept() -> None:
    files = {p.name: text for p, text in generate.render().items()}
    for name in (
        "population_by_province_age_sex",
        "enrolment_by_province_school_level",
        "insured_persons_by_province_group",
        "pupils_by_province_insurance",
        "vehicle_registrations_by_province_type",
        "enrolment_microdata",
    ):
        text = files[f"disclosure__{name}.sql"]
        assert f"location='gold/_disclosure/{name}'" in text
    vehicles = files["disclosure__vehicle_registrations_by_province_type.sql"]
    assert "persons_column='owners', largest_column='largest_owner_vehicles'" in vehicles
    assert "health__insured_persons_by_province_group.sql" not in files  # hand-written: its label join
    assert (
        "open_aggregate('int_transport__vehicle_registrations_by_province_type_cells'"
        in (files["transport__vehicle_registrations_by_province_type.sql"])
    )


def test_a_tagged_source_generates_pseudonymised_silver_with_2025_units(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_CONTRACTS_DIRS", str(SOCIAL))
    files = {p.name: text for p, text in generate.render().items()}
    silver = files["int_social__household_benefits.sql"]
    assert "{{ pseudonym('checked.head_citizen_id') }} as person_pseudonym" in silver
    assert "head_full_name" not in silver and "checked.head_citizen_id," not in silver
    assert "ref('ward_crosswalk_2025')" in silver and "as ward_unmatched" in silver
    assert "location='silver/social/household_benefits'" in silver
    assert "{{ contract_quality_social__household_benefit() }} is null" in silver
    cells = files["int_social__household_benefit_by_ward_cells.sql"]
    assert "count(distinct person_pseudonym) as households" in cells
    assert "cast(sum(benefit_vnd) as bigint) as benefit_vnd" in cells


def test_writing_is_idempotent_and_removes_what_no_contract_implies(tmp_path: Path) -> None:
    project = tmp_path / "dbt_project"
    for part in ("models", "macros", "seeds"):
        shutil.copytree(DBT_PROJECT / part, project / part, ignore=shutil.ignore_patterns("generated"))
    written = generate.write(project)
    assert project / "models" / "generated" / "marts" / "_open_datasets__models.yml" in written
    assert generate.write(project) == []  # nothing changed: nothing rewritten
    stale = project / "models" / "generated" / "marts" / "retired" / "old_dataset.sql"
    stale.parent.mkdir(parents=True)
    stale.write_text("select 1")
    assert generate.write(project) == [stale] and not stale.parent.exists()


def test_no_hand_written_model_spells_a_lake_path_or_keeps_internal_models_in_marts() -> None:
    for path in MODELS.rglob("*.sql"):
        if "generated" in path.relative_to(MODELS).parts:
            continue
        assert not re.search(r"location\s*=\s*'", path.read_text()), f"{path} restates a lake path"
        if "marts" in path.relative_to(MODELS).parts:
            assert not re.search(r"_(cells|prepared)$", path.stem), f"{path}: internal model in marts/"


RULES = (
    QualityRule("sex", "sex_present", "not_null"),
    QualityRule("sex", "sex_code", "valid_values", values=(1, 2)),
    QualityRule("citizen_id", "id_format", "pattern", pattern="^[0-9]{12}$"),
    QualityRule("amount", "amount_positive", "expression", expression="amount > 0 AND amount < 10"),
)


def test_compiled_rules_fail_exactly_the_rows_they_should_and_let_nulls_pass_but_not_null() -> None:
    rows = [  # sex, citizen_id, amount -> the rules it fails
        ((1, "001090000001", 5), set()),
        ((None, "001090000001", 5), {"sex_present"}),
        ((3, "12345", 5), {"sex_code", "id_format"}),
        ((2, None, None), set()),  # NULL fails only not_null
        ((2, "001090000001", 50), {"amount_positive"}),
    ]
    con = duckdb.connect()
    con.execute("create table t (n int, sex int, citizen_id varchar, amount int)")
    con.executemany("insert into t values (?, ?, ?, ?)", [(i, *r) for i, (r, _) in enumerate(rows)])
    for rule in RULES:
        failing = {n for (n,) in con.execute(f"select n from t where {failing_condition(rule, 'duckdb')}").fetchall()}
        assert failing == {i for i, (_, fails) in enumerate(rows) if rule.name in fails}, rule.name
    first = dict(con.execute(f"select n, {reject_reason(RULES, 'duckdb')} from t order by n").fetchall())
    assert first[0] is None and first[2] == RULES[1].reason and first[4] == RULES[3].reason
    spark = failing_condition(RULES[2], "spark", columns={"citizen_id": "cid"})
    assert spark == "NOT cid IS NULL AND NOT (CAST(cid AS STRING) RLIKE '^[0-9]{12}$')"
