"""The release-set audit, written as attacks: each builds real Delta tables (and release-log entries) that
pass their own gate one by one, then shows what an intruder holding all of them learns, and that the
gate refuses to publish."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from data_contracts import Column, Dataset, dataset
from lakehouse.core import releases
from lakehouse.core.lake import read_table
from lakehouse.core.settings import Settings
from publish.ckan_portal import prepare
from publish.disclosure import DisclosureError, check
from publish.release_audit import audit

ENROLMENT = dataset("enrolment_by_province_school_level")
PUPILS = dataset("pupils_by_province_insurance")
MICRODATA = dataset("enrolment_microdata")
YEAR = "2025-2026"


def _gold(ds: Dataset, cells: dict[tuple, int | None]) -> pa.Table:
    """A gold table with the contract's columns: dimension values from the keys, None = suppressed."""
    columns: dict[str, pa.Array] = {}
    keys = list(cells)
    for c in ds.columns:
        if c.name in ds.dimensions:
            columns[c.name] = pa.array([k[ds.dimensions.index(c.name)] for k in keys], pa.string())
        elif c.name == ds.count_column:
            columns[c.name] = pa.array(list(cells.values()), pa.int64())
        elif c.name == "suppressed":
            columns[c.name] = pa.array([v is None for v in cells.values()])
        else:  # names and labels of the dimensions' codes
            columns[c.name] = pa.array(["label"] * len(keys), pa.string())
    return pa.table(columns)


def _write(lake: Path, ds: Dataset, cells: dict[tuple, int | None], hidden: int = 0) -> pa.Table:
    """Gold Delta table + the disclosure summary dbt writes beside it (agreeing with it)."""
    table = _gold(ds, cells)
    write_deltalake(str(ds.gold_path(lake)), table, mode="overwrite")
    published = [v for v in cells.values() if v is not None]
    summary = {
        "dataset": ds.name,
        "cells": len(cells),
        "primary_suppressed": sum(v is None for v in cells.values()),
        "complementary_suppressed": 0,
        "units_suppressed": hidden,
        "smallest_published_count": min(published) if published else None,
        "min_cell_count": ds.min_cell_count,
    }
    write_deltalake(str(ds.disclosure_path(lake)), pa.Table.from_pylist([summary]), mode="overwrite")
    return table


def _settings(tmp_path: Path) -> Settings:
    return dataclasses.replace(Settings.from_env(), var_dir=tmp_path, lake_root=tmp_path / "lake")


def _alone(ds: Dataset, lake: Path) -> list[str]:
    """What the table's own gate says, with an audit that sees no other table."""
    table, _ = read_table(ds.gold_path(lake))
    summary = read_table(ds.disclosure_path(lake))[0].to_pylist()[0]
    return check(ds, table, summary, audit=audit(lake, (ds,))).failures


def test_linked_tables_pin_suppressed_cells(tmp_path: Path) -> None:
    """Enrolment per province = insured + not insured pupils per province: each table chose its
    suppression alone, together they leave two suppressed cells of province 01 summing to 6."""
    settings = _settings(tmp_path)
    lake = settings.lake_root
    _write(
        lake,
        ENROLMENT,
        {
            ("01", YEAR, "primary"): None,  # 4
            ("01", YEAR, "lower_secondary"): 40,
            ("01", YEAR, "upper_secondary"): None,  # 2
            ("02", YEAR, "primary"): None,
            ("02", YEAR, "lower_secondary"): 50,
            ("02", YEAR, "upper_secondary"): None,
        },
    )
    _write(
        lake,
        PUPILS,
        {("01", "insured"): 36, ("01", "not_insured"): 10, ("02", "insured"): 60, ("02", "not_insured"): 15},
    )
    assert _alone(ENROLMENT, lake) == [] and _alone(PUPILS, lake) == []

    result = audit(lake)
    pinned = {f.cell for f in result.findings if f.check == "interval"}
    assert pinned == {
        f"province_code_2025=01, school_year={YEAR}, school_level=primary",
        f"province_code_2025=01, school_year={YEAR}, school_level=upper_secondary",
    }
    assert result.smallest_interval[ENROLMENT.name]["upper"] == 5  # 1..5: six pupils in two cells
    assert result.lp_solves >= 8
    with pytest.raises(DisclosureError, match="release-set audit") as refused:
        prepare(settings, ENROLMENT, tmp_path / "out")
    assert "1..5" in str(refused.value)
    with pytest.raises(DisclosureError, match="enrolment_by_province_school_level"):
        prepare(settings, PUPILS, tmp_path / "out-pupils")  # the link's other table is refused too


def test_a_cell_alone_in_its_line_is_given_away_by_a_linked_total(tmp_path: Path) -> None:
    """Zero cells have no row: province 03 has upper-secondary pupils only, so its suppressed cell is the
    province's whole total, which the insurance table publishes."""
    lake = _settings(tmp_path).lake_root
    _write(
        lake,
        ENROLMENT,
        {
            ("01", YEAR, "primary"): None,
            ("01", YEAR, "lower_secondary"): 40,
            ("01", YEAR, "upper_secondary"): None,
            ("03", YEAR, "upper_secondary"): None,  # complementary for the upper-secondary column
        },
    )
    _write(
        lake,
        PUPILS,
        {("01", "insured"): 44, ("01", "not_insured"): 11, ("03", "insured"): 15, ("03", "not_insured"): 10},
    )
    assert _alone(ENROLMENT, lake) == []  # its own gate sees a line of one cell, its own total
    found = [f for f in audit(lake).findings if f.check == "interval"]
    assert [f.cell for f in found] == [f"province_code_2025=03, school_year={YEAR}, school_level=upper_secondary"]
    assert "25..25" in found[0].detail


def test_published_numbers_that_break_a_declared_link_fail(tmp_path: Path) -> None:
    lake = _settings(tmp_path).lake_root
    _write(lake, ENROLMENT, {("01", YEAR, "primary"): 30, ("01", YEAR, "lower_secondary"): 40})
    _write(lake, PUPILS, {("01", "insured"): 60, ("01", "not_insured"): 11})
    found = audit(lake).findings
    assert [f.check for f in found] == ["relation"] and "+1" in found[0].detail  # 70 enrolled, 71 pupils


# The microdata as it was before issue 12: the province kept where the class allowed it.
PROVINCE = Column("province_code_2025", None, "string", False, False, "quasi-identifier", None)
OLD_MICRODATA = dataclasses.replace(
    MICRODATA,
    dimensions=("province_code_2025", "school_level", "age_band", "sex"),
    columns=(*MICRODATA.columns[:2], PROVINCE, *MICRODATA.columns[2:]),
)


def _microdata(rows: list[tuple[str | None, str, str, str]], ds: Dataset = OLD_MICRODATA) -> pa.Table:
    cols = {
        "record_no": pa.array(range(1, len(rows) + 1), pa.int64()),
        "school_year": [YEAR] * len(rows),
        "province_code_2025": [r[0] for r in rows],
        "school_level": [r[1] for r in rows],
        "age_band": [r[2] for r in rows],
        "sex": [r[3] for r in rows],
        "locally_suppressed": [r[0] is None for r in rows],
    }
    return pa.table({c.name: cols[c.name] for c in ds.columns})


def test_microdata_minus_the_aggregate_locates_pupils_whose_province_was_withheld(tmp_path: Path) -> None:
    """Five female pupils lost their province to reach k; the aggregate says 3 of them are in 01, 2 in 02."""
    lake = _settings(tmp_path).lake_root
    kept = [("01", "upper_secondary", "15-19", "male")] * 11 + [("02", "upper_secondary", "15-19", "male")] * 10
    withheld = [(None, "upper_secondary", "15-19", "female")] * 5
    micro = _microdata(kept + withheld)
    write_deltalake(str(MICRODATA.gold_path(lake)), micro)
    _write(lake, ENROLMENT, {("01", YEAR, "upper_secondary"): 14, ("02", YEAR, "upper_secondary"): 12})
    summary = {"records": 26, "persons": 26, "locally_suppressed": 5, "records_dropped": 0, "k_achieved": 5}
    assert check(OLD_MICRODATA, micro, {**summary, "k_required": 5}, audit=audit(lake, (OLD_MICRODATA,))).passed
    result = audit(lake, (OLD_MICRODATA, ENROLMENT))
    located = sorted((f.cell, f.detail) for f in result.findings if f.check == "microdata")
    assert [cell for cell, _ in located] == [
        "province_code_2025=01, school_level=upper_secondary",
        "province_code_2025=02, school_level=upper_secondary",
    ]
    assert "places 3 record(s)" in located[0][1] and "age_band=15-19, sex=female" in located[0][1]
    assert "places 2 record(s)" in located[1][1]


def test_microdata_rows_bound_a_suppressed_cell_from_below(tmp_path: Path) -> None:
    lake = _settings(tmp_path).lake_root
    rows = [("02", "upper_secondary", "15-19", "male")] * 5 + [("01", "primary", "05-09", "female")] * 20
    write_deltalake(str(MICRODATA.gold_path(lake)), _microdata(rows))
    _write(lake, ENROLMENT, {("01", YEAR, "primary"): 20, ("02", YEAR, "upper_secondary"): None})
    result = audit(lake, (OLD_MICRODATA, ENROLMENT))
    assert result.smallest_interval[ENROLMENT.name]["lower"] == 5  # at least the 5 microdata rows


def test_current_microdata_has_no_geography_to_subtract(tmp_path: Path) -> None:
    lake = _settings(tmp_path).lake_root
    assert "province_code_2025" not in {c.name for c in MICRODATA.columns}
    rows = [
        {"school_level": "upper_secondary", "age_band": "15-19", "sex": s, "locally_suppressed": False}
        for s in ["male"] * 16 + ["female"] * 5
    ]
    table = pa.table(
        {
            "record_no": pa.array(range(1, len(rows) + 1), pa.int64()),
            "school_year": [YEAR] * len(rows),
            **{k: [r[k] for r in rows] for k in ("school_level", "age_band", "sex", "locally_suppressed")},
        }
    )
    write_deltalake(str(MICRODATA.gold_path(lake)), table)
    _write(lake, ENROLMENT, {("01", YEAR, "upper_secondary"): 11, ("02", YEAR, "upper_secondary"): 17})
    result = audit(lake, (MICRODATA, ENROLMENT))
    assert result.passed, [str(f) for f in result.findings]
    _write(lake, ENROLMENT, {("01", YEAR, "upper_secondary"): 11, ("02", YEAR, "upper_secondary"): 9})
    broken = audit(lake, (MICRODATA, ENROLMENT)).findings  # 21 pupils in microdata, 20 in the aggregate
    assert [f.check for f in broken] == ["relation"]


def test_records_of_the_same_pupils_in_two_school_years_do_not_make_k(tmp_path: Path) -> None:
    """Three pupils, two school years: six records in one class when school_year is not a quasi-identifier."""
    n = 6
    table = pa.table(
        {
            "record_no": pa.array(range(1, n + 1), pa.int64()),
            "school_year": ["2025-2026"] * 3 + ["2026-2027"] * 3,
            "school_level": ["primary"] * n,
            "age_band": ["05-09"] * n,
            "sex": ["female"] * n,
            "locally_suppressed": [False] * n,
        }
    )
    summary = {"records": n, "persons": 3, "locally_suppressed": 0, "records_dropped": 0, "k_achieved": 3}
    report = check(MICRODATA, table, {**summary, "k_required": 5}, audit=audit(tmp_path, ()))
    assert any("k achieved is 3" in f for f in report.failures)
    assert any("smallest class holds 3 persons" in f for f in report.failures)


def test_a_microdata_column_is_a_quasi_identifier_unless_the_contract_says_why(tmp_path: Path, monkeypatch) -> None:
    from data_contracts import validate_all

    text = MICRODATA.contract_path.read_text(encoding="utf-8")
    text = text.replace("name: enrolment_microdata\n", "name: enrolment_microdata_unexplained\n", 1)
    text = text.replace("value: [school_year, school_level, age_band, sex]", "value: [school_level, age_band, sex]")
    (tmp_path / "datasets").mkdir()
    (tmp_path / "datasets" / "unexplained.odcs.yaml").write_text(text, encoding="utf-8")
    monkeypatch.setenv("LAKEHOUSE_CONTRACTS_DIRS", str(tmp_path))
    problems = [p for p in validate_all() if "unexplained" in p]
    assert problems and "['school_year'] are neither quasi-identifiers" in problems[0]


def test_a_small_change_between_releases_identifies_the_movers(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    lake = settings.lake_root
    cells = {("01", "insured"): 36, ("01", "not_insured"): 20, ("02", "insured"): 60, ("02", "not_insured"): 15}
    releases.record(lake, PUPILS.name, 0, _write(lake, PUPILS, cells))
    assert audit(lake, (PUPILS,)).passed  # the same release again: nothing new
    _write(lake, PUPILS, {**cells, ("01", "insured"): 39, ("02", "insured"): 75})  # +3 and +15
    found = audit(lake, (PUPILS,)).findings
    assert [(f.check, f.cell) for f in found] == [
        ("release-difference", "province_code_2025=01, insurance_status=insured")
    ]
    assert "published 36 in v0 and 39 in v1" in found[0].detail
    with pytest.raises(DisclosureError, match="release-difference"):
        prepare(settings, PUPILS, tmp_path / "out")


def test_a_cell_an_earlier_release_published_stays_known_while_the_data_is_unchanged(tmp_path: Path) -> None:
    """Province 01's pupils were published in v0; v1 of the same data withholds them, but the intruder still
    holds 36 + 20 = 56, which pins the two enrolment cells withheld beside 50 pupils."""
    lake = _settings(tmp_path).lake_root
    before = {("01", "insured"): 36, ("01", "not_insured"): 20, ("02", "insured"): 60, ("02", "not_insured"): 15}
    enrolment = {
        ("01", YEAR, "primary"): None,
        ("01", YEAR, "lower_secondary"): 50,
        ("01", YEAR, "upper_secondary"): None,
        ("02", YEAR, "primary"): 75,
    }
    _write(lake, ENROLMENT, enrolment)
    _write(lake, PUPILS, {**before, ("01", "insured"): None, ("01", "not_insured"): None})
    assert audit(lake, (ENROLMENT, PUPILS)).passed  # without the earlier release the total is unknown
    releases.record(lake, PUPILS.name, 0, _gold(PUPILS, before))
    _write(lake, PUPILS, {**before, ("01", "insured"): None, ("01", "not_insured"): None})  # v1, same data
    found = audit(lake, (ENROLMENT, PUPILS)).findings
    assert {f.cell for f in found} == {
        f"province_code_2025=01, school_year={YEAR}, school_level=primary",
        f"province_code_2025=01, school_year={YEAR}, school_level=upper_secondary",
    }
    assert all("1..5" in f.detail for f in found)


def test_a_cell_is_compared_with_the_last_release_that_published_it(tmp_path: Path) -> None:
    lake = _settings(tmp_path).lake_root
    cells = {("01", "insured"): 36, ("01", "not_insured"): 20, ("02", "insured"): 60, ("02", "not_insured"): 15}
    releases.record(lake, PUPILS.name, 0, _write(lake, PUPILS, cells))  # gold v0
    hidden = {**cells, ("01", "insured"): None, ("02", "insured"): None}
    releases.record(lake, PUPILS.name, 1, _write(lake, PUPILS, hidden))  # gold v1: the cell withheld
    _write(lake, PUPILS, {**cells, ("01", "insured"): 39})  # gold v2: 3 more than v0 published
    found = audit(lake, (PUPILS,)).findings
    assert [f.check for f in found] == ["release-difference"]
    assert "published 36 in v0 and 39 in v2" in found[0].detail


def test_values_of_an_earlier_release_that_the_new_numbers_contradict_are_not_assumed(tmp_path: Path) -> None:
    """v0 published 36 + 20 pupils in province 01; v1 withholds both but publishes 60 lower-secondary
    pupils there: the data changed, so the intruder cannot carry 56 over, and nothing is pinned."""
    lake = _settings(tmp_path).lake_root
    before = {("01", "insured"): 36, ("01", "not_insured"): 20, ("02", "insured"): 60, ("02", "not_insured"): 15}
    releases.record(lake, PUPILS.name, 0, _gold(PUPILS, before))
    _write(lake, PUPILS, {**before, ("01", "insured"): None, ("01", "not_insured"): None})
    enrolment = {
        ("01", YEAR, "primary"): None,
        ("01", YEAR, "lower_secondary"): 60,
        ("01", YEAR, "upper_secondary"): None,
        ("02", YEAR, "primary"): 75,
    }
    _write(lake, ENROLMENT, enrolment)
    result = audit(lake, (ENROLMENT, PUPILS))
    assert result.passed, [str(f) for f in result.findings]
    assert result.smallest_interval[ENROLMENT.name]["upper"] == "inf"
