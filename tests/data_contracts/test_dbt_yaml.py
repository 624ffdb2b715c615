"""dbt sources and open-dataset model contracts are generated from the contracts and are up to date."""

from __future__ import annotations

import yaml

from data_contracts import dataset, dbt_yaml, source_table


def test_committed_dbt_yaml_matches_the_contracts() -> None:
    assert dbt_yaml.stale() == [], "run: bin/lakehouse contracts dbt-yaml"


def test_sources_carry_columns_keys_and_classification() -> None:
    doc = yaml.safe_load(dbt_yaml.render()[dbt_yaml.DBT_STAGING / "population" / "_population__sources.yml"])
    table = next(t for t in doc["sources"][0]["tables"] if t["name"] == "citizen")
    contract = source_table("population", "citizen")
    assert [c["name"] for c in table["columns"]] == [c.name for c in contract.columns]
    by_name = {c["name"]: c for c in table["columns"]}
    assert by_name["registry_id"]["data_tests"] == ["not_null", "unique"]
    assert by_name["full_name"]["meta"]["classification"] == "direct-identifier"
    assert by_name["full_name"]["meta"]["description_vi"]


def test_open_dataset_models_get_an_enforced_contract_and_disclosure_tests() -> None:
    doc = yaml.safe_load(dbt_yaml.render()[dbt_yaml.DATASETS_YAML])
    models = {m["name"]: m for m in doc["models"]}
    population = models[dataset("population_by_province_age_sex").dbt_model]
    assert population["config"]["contract"]["enforced"] is True
    assert [c["name"] for c in population["columns"]][-2:] == ["population", "suppressed"]
    assert {"no_small_cells": {"arguments": {"count_column": "population", "min_count": 10}}} in population[
        "data_tests"
    ]
    microdata = models[dataset("enrolment_microdata").dbt_model]
    assert microdata["data_tests"][1]["k_anonymity"]["arguments"]["k"] == 5
