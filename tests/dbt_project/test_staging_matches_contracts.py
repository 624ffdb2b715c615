"""Every contracted source table without generated models has a hand-written staging model reading every
contracted column."""

from __future__ import annotations

import re

from data_contracts import source_tables
from dbt_project.runner import DBT_PROJECT


def test_a_staging_model_per_contract_reading_every_column() -> None:
    for table in source_tables():
        if table.contract_path.is_relative_to(DBT_PROJECT.parent / "tests"):
            continue  # test fixtures are ingested only
        if table.silver_entity:
            continue  # its staging model is generated from the contract (tests/dbt_project/test_generate.py)
        model = DBT_PROJECT / "models" / "staging" / table.sector / f"stg_{table.sector}__{table.table}.sql"
        assert model.exists(), f"missing {model}"
        sql = model.read_text()
        assert f"source('bronze_{table.sector}', '{table.table}')" in sql
        for column in table.columns:
            assert re.search(rf"\b{column.name}\b", sql), f"{model.name} does not read {column.name}"
