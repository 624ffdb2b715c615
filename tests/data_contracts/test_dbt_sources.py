"""dbt sources are generated from the contracts and the committed files are up to date."""

from __future__ import annotations

import yaml

from data_contracts import dbt_sources, source_table


def test_committed_dbt_sources_match_the_contracts() -> None:
    assert dbt_sources.stale() == [], "run: bin/lakehouse contracts dbt-sources"


def test_sources_carry_columns_keys_and_classification() -> None:
    doc = yaml.safe_load(dbt_sources.render()["population"])
    table = next(t for t in doc["sources"][0]["tables"] if t["name"] == "citizen")
    contract = source_table("population", "citizen")
    assert [c["name"] for c in table["columns"]] == [c.name for c in contract.columns]
    by_name = {c["name"]: c for c in table["columns"]}
    assert by_name["registry_id"]["data_tests"] == ["not_null", "unique"]
    assert by_name["full_name"]["meta"]["classification"] == "direct-identifier"
    assert by_name["full_name"]["meta"]["description_vi"]
