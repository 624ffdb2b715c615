"""The disclosure gate rejects anything that could identify a person."""

from __future__ import annotations

import pyarrow as pa
import pytest

from data_contracts import dataset
from publish.disclosure import DisclosureError, check, direct_identifier_columns

DATASET = dataset("population_by_province_age_sex")
SUMMARY = {"primary_suppressed": 1, "complementary_suppressed": 1, "smallest_published_count": 25, "min_cell_count": 10}


def _table(**overrides: list) -> pa.Table:
    cols = {
        "province_code_2025": ["01", "01"],
        "province_name_2025": ["Thành phố Hà Nội", "Thành phố Hà Nội"],
        "age_band": ["20-24", "25-29"],
        "sex": ["male", "male"],
        "population": pa.array([None, None], pa.int64()),
        "suppressed": [True, True],
    }
    cols.update(overrides)
    return pa.table(cols)


def test_clean_aggregate_passes_and_reports() -> None:
    report = check(DATASET, _table(), SUMMARY, facts={"gold_delta_version": 3})
    assert report.passed and len(report.checks) == 6
    facts = report.as_dict()
    assert facts["suppressed_primary"] == 1 and facts["quasi_identifiers"] == ["province_code_2025", "age_band", "sex"]
    assert all(c["passed"] for c in facts["checks"])
    assert "**Result: PASSED**" in report.markdown()


def test_missing_dbt_summary_fails() -> None:
    report = check(DATASET, _table(), None)
    assert not report.passed and any("no disclosure summary" in f for f in report.failures)


def test_a_lone_suppressed_cell_in_a_line_fails() -> None:
    # primary-only suppression: the age line of male cells totals 25 + x, so x is recoverable
    table = _table(population=pa.array([25, None], pa.int64()), suppressed=[False, True])
    report = check(DATASET, table, SUMMARY)
    assert any("single suppressed cell recoverable" in f for f in report.failures)
    assert {"check": "no line of cells holds a single suppressed cell", "passed": False} in report.as_dict()["checks"]


def test_direct_identifiers_are_known_from_contracts() -> None:
    assert {"citizen_id", "full_name", "date_of_birth", "phone", "address_line"} <= direct_identifier_columns()


def test_identifier_column_fails() -> None:
    table = _table().append_column("citizen_id", pa.array(["001090123456", "001090123457"]))
    report = check(DATASET, table, SUMMARY)
    assert any("citizen_id" in f for f in report.failures)
    with pytest.raises(DisclosureError, match="nothing published"):
        report.raise_if_failed()


def test_identifier_shaped_values_fail() -> None:
    report = check(DATASET, _table(age_band=["0912345678", "25-29"]), SUMMARY)
    assert any("phone number" in f for f in report.failures)


def test_unsuppressed_small_cell_fails() -> None:
    report = check(DATASET, _table(population=pa.array([25, 3], pa.int64()), suppressed=[False, False]), SUMMARY)
    assert any("below 10" in f for f in report.failures)


MICRODATA = dataset("enrolment_microdata")
MICRO_SUMMARY = {"locally_suppressed": 2, "records_dropped": 1, "k_required": 5}


def _micro(provinces: list[str | None]) -> pa.Table:
    n = len(provinces)
    return pa.table(
        {
            "record_no": pa.array(range(1, n + 1), pa.int64()),
            "school_year": ["2025-2026"] * n,
            "province_code_2025": provinces,
            "school_level": ["primary"] * n,
            "age_band": ["05-09"] * n,
            "sex": ["female"] * n,
            "locally_suppressed": [p is None for p in provinces],
        }
    )


def test_k_anonymous_microdata_passes_and_reports_k() -> None:
    report = check(MICRODATA, _micro(["01"] * 5 + [None] * 5), MICRO_SUMMARY)
    assert report.passed, report.failures
    assert report.facts["k_achieved"] == 5 and report.facts["records_dropped"] == 1
    assert "k = 5" in report.markdown()


def test_microdata_below_k_fails() -> None:
    report = check(MICRODATA, _micro(["01"] * 5 + ["02"] * 4), MICRO_SUMMARY)
    assert any("k achieved is 4" in f for f in report.failures)
