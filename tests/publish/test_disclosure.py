"""The disclosure gate rejects anything that could identify a person."""

from __future__ import annotations

import dataclasses

import pyarrow as pa
import pytest

from data_contracts import dataset
from publish.disclosure import DisclosureError, check, direct_identifier_columns
from publish.release_audit import AuditResult

DATASET = dataset("population_by_province_age_sex")
SUMMARY = {
    "cells": 2,
    "primary_suppressed": 1,
    "complementary_suppressed": 1,
    "smallest_published_count": None,
    "min_cell_count": 10,
}
AUDIT = AuditResult()  # a release set in which the audit found nothing


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
    report = check(DATASET, _table(), SUMMARY, facts={"gold_delta_version": 3}, audit=AUDIT)
    assert report.passed, report.failures
    assert len(report.checks) == 8
    facts = report.as_dict()
    assert facts["suppressed_primary"] == 1 and facts["quasi_identifiers"] == ["province_code_2025", "age_band", "sex"]
    assert all(c["passed"] for c in facts["checks"])
    assert "**Result: PASSED**" in report.markdown() and "Counted: one per resident" in report.markdown()


def test_missing_dbt_summary_fails() -> None:
    report = check(DATASET, _table(), None, audit=AUDIT)
    assert not report.passed and any("no disclosure summary" in f for f in report.failures)


def test_a_lone_suppressed_cell_in_a_line_fails() -> None:
    # primary-only suppression: the age line of male cells totals 25 + x, so x is recoverable
    table = _table(population=pa.array([25, None], pa.int64()), suppressed=[False, True])
    report = check(DATASET, table, SUMMARY, audit=AUDIT)
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
    report = check(DATASET, _table(age_band=["0912345678", "25-29"]), SUMMARY, audit=AUDIT)
    assert any("phone shape" in f for f in report.failures)


def test_unsuppressed_small_cell_fails() -> None:
    table = _table(population=pa.array([25, 3], pa.int64()), suppressed=[False, False])
    report = check(DATASET, table, {**SUMMARY, "smallest_published_count": 3}, audit=AUDIT)
    assert any("below 10" in f for f in report.failures)


def test_without_the_release_set_audit_the_gate_fails() -> None:
    report = check(DATASET, _table(), SUMMARY)
    assert any("release-set audit did not run" in f for f in report.failures)


MICRODATA = dataset("enrolment_microdata")


def _micro(age_bands: list[str | None], years: list[str] | None = None) -> pa.Table:
    n = len(age_bands)
    return pa.table(
        {
            "record_no": pa.array(range(1, n + 1), pa.int64()),
            "school_year": years or ["2025-2026"] * n,
            "school_level": ["primary"] * n,
            "age_band": age_bands,
            "sex": ["female"] * n,
            "locally_suppressed": [a is None for a in age_bands],
        }
    )


def _micro_summary(table: pa.Table, **overrides: int) -> dict:
    withheld = sum(table["locally_suppressed"].to_pylist())
    summary = {"records": table.num_rows, "persons": table.num_rows, "locally_suppressed": withheld}
    return {**summary, "records_dropped": 1, "k_achieved": 5, "k_required": 5, **overrides}


def test_k_anonymous_microdata_passes_and_reports_k_and_risk() -> None:
    table = _micro(["05-09"] * 5 + [None] * 5)
    report = check(MICRODATA, table, _micro_summary(table), audit=AUDIT)
    assert report.passed, report.failures
    assert report.facts["k_achieved"] == 5 and report.facts["records_dropped"] == 1
    assert report.facts["sample_uniques"] == 0 and report.facts["individual_risk_max"] == 0.2
    assert report.facts["k_pycanon"] == 5 and report.facts["global_risk"] == 0.2
    assert "k = 5" in report.markdown()


def test_microdata_below_k_fails() -> None:
    table = _micro(["05-09"] * 5 + ["10-14"] * 4)
    report = check(MICRODATA, table, _micro_summary(table), audit=AUDIT)
    assert any("k achieved is 4" in f for f in report.failures)


def test_a_cell_flagged_suppressed_that_still_shows_its_value_fails() -> None:
    table = _table(population=pa.array([None, 7], pa.int64()), suppressed=[True, True])
    report = check(DATASET, table, {**SUMMARY, "smallest_published_count": 7}, audit=AUDIT)
    assert any("flagged suppressed (or unflagged) still show their population" in f for f in report.failures)


def test_an_empty_cell_not_flagged_suppressed_fails() -> None:
    table = _table(population=pa.array([None, None], pa.int64()), suppressed=[True, False])
    report = check(DATASET, table, {**SUMMARY, "complementary_suppressed": 0}, audit=AUDIT)
    assert any("empty population cell(s) not flagged suppressed" in f for f in report.failures)


def test_a_missing_suppressed_column_fails() -> None:
    report = check(DATASET, _table().drop_columns(["suppressed"]), SUMMARY, audit=AUDIT)
    assert any("column suppressed missing" in f for f in report.failures)


@pytest.mark.parametrize(
    ("column", "values", "shape"),
    [
        ("population", pa.array([109012345678, None], pa.int64()), "citizen_id"),  # a number, not a string
        ("age_band", ["call +84 912 345 678", "25-29"], "phone"),
        ("age_band", ["0084-912.345.678", "25-29"], "phone"),
        ("sex", ["owner 29A-123.45", "male"], "plate_no"),
        ("sex", ["DN4010123456789", "male"], "card_no"),
        ("province_name_2025", ["born 1990-04-30", "x"], "date_of_birth"),
        ("province_name_2025", ["ab" * 32, "x"], "pseudonym"),
    ],
)
def test_identifier_shapes_are_found_in_every_column_and_spelling(column: str, values: list, shape: str) -> None:
    report = check(DATASET, _table(**{column: values}), SUMMARY, audit=AUDIT)
    assert any(f.startswith(f"column {column}:") and f"{shape} shape" in f for f in report.failures), report.failures


def test_codes_and_counts_are_not_taken_for_identifiers() -> None:
    table = _table(population=pa.array([123456, 25], pa.int64()), suppressed=[False, False])
    report = check(
        DATASET,
        table,
        {**SUMMARY, "primary_suppressed": 0, "complementary_suppressed": 0, "smallest_published_count": 25},
        audit=AUDIT,
    )
    assert report.passed, report.failures


def test_a_dbt_summary_that_does_not_describe_the_table_fails() -> None:
    report = check(DATASET, _table(), {**SUMMARY, "cells": 3, "complementary_suppressed": 0}, audit=AUDIT)
    assert any("summary says cells = 3, the table being published has 2" in f for f in report.failures)
    assert any("summary says suppressed cells = 1" in f for f in report.failures)


def test_release_set_findings_fail_the_gate_of_the_tables_involved() -> None:
    from publish.release_audit import Finding

    finding = Finding("interval", "other", "a=1", "pinned", ("other", DATASET.name))
    report = check(DATASET, _table(), SUMMARY, audit=AuditResult(findings=[finding]))
    assert report.failures == ["interval: other [a=1]: pinned"]
    assert report.facts["release_audit_findings"] == ["interval: other [a=1]: pinned"]
    assert check(
        DATASET, _table(), SUMMARY, audit=AuditResult(findings=[dataclasses.replace(finding, involved=("other",))])
    ).passed


VEHICLES = dataset("vehicle_registrations_by_province_type")


def _vehicles(registrations: list[int | None]) -> pa.Table:
    n = len(registrations)
    return pa.table(
        {
            "province_code_2025": ["01"] * n,
            "province_name_2025": ["Thành phố Hà Nội"] * n,
            "vehicle_type": ["bus", "car", "motorbike", "truck"][:n],
            "registrations": pa.array(registrations, pa.int64()),
            "suppressed": [r is None for r in registrations],
        }
    )


def test_one_owner_with_twelve_buses_is_not_a_publishable_cell() -> None:
    """The count (12 vehicles) passes the threshold; dbt's summary says the cell holds one owner."""
    summary = {**SUMMARY, "primary_suppressed": 0, "complementary_suppressed": 0, "smallest_published_count": 12}
    one_owner = {**summary, "smallest_published_persons": 1, "largest_published_share": 1.0}
    report = check(VEHICLES, _vehicles([12, 40]), one_owner, audit=AUDIT)
    assert any("holds 1 distinct owner(s), fewer than 10" in f for f in report.failures)
    assert any("one owner holds 100% of a published cell" in f for f in report.failures)
    many = {**summary, "smallest_published_persons": 12, "largest_published_share": 0.25}
    assert check(VEHICLES, _vehicles([12, 40]), many, audit=AUDIT).passed
