"""Contracts parse with the ODCS models and carry what every stage needs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from data_contracts import ContractError, dataset, datasets, source_table, source_tables
from data_contracts.registry import _source


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
    assert datasets() == (d,)


def test_unknown_names_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ContractError, match=r"known: .*population\.citizen"):
        source_table("agriculture")
    bad = tmp_path / "bad.odcs.yaml"
    bad.write_text("apiVersion: v3.0.2\nkind: DataContract\nid: x\nstatus: active\n")
    with pytest.raises(ContractError, match=re.escape(str(bad))):
        _source(bad)
