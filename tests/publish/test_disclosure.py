"""The disclosure gate rejects anything that could identify a person."""

from __future__ import annotations

import pyarrow as pa
import pytest

from data_contracts import dataset
from publish.disclosure import DisclosureError, check, direct_identifier_columns

DATASET = dataset("population_by_province_age_sex")


def _table(**overrides: list) -> pa.Table:
    cols = {
        "province_code_2025": ["01", "01"],
        "province_name_2025": ["Thành phố Hà Nội", "Thành phố Hà Nội"],
        "age_band": ["20-24", "25-29"],
        "sex": ["male", "female"],
        "population": pa.array([25, None], pa.int64()),
        "suppressed": [False, True],
    }
    cols.update(overrides)
    return pa.table(cols)


def test_clean_aggregate_passes() -> None:
    report = check(DATASET, _table())
    assert report.passed and len(report.checks) == 4


def test_direct_identifiers_are_known_from_contracts() -> None:
    assert {"citizen_id", "full_name", "date_of_birth", "phone", "address_line"} <= direct_identifier_columns()


def test_identifier_column_fails() -> None:
    table = _table().append_column("citizen_id", pa.array(["001090123456", "001090123457"]))
    report = check(DATASET, table)
    assert any("citizen_id" in f for f in report.failures)
    with pytest.raises(DisclosureError, match="nothing published"):
        report.raise_if_failed()


def test_identifier_shaped_values_fail() -> None:
    report = check(DATASET, _table(age_band=["0912345678", "25-29"]))
    assert any("phone number" in f for f in report.failures)


def test_unsuppressed_small_cell_fails() -> None:
    report = check(DATASET, _table(population=pa.array([25, 3], pa.int64())))
    assert any("below 10" in f for f in report.failures)
