"""The Frictionless data package: validated whenever its bytes are new, not again for identical bytes
(a republish of unchanged data), and a CSV changed behind the descriptor is validated and refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from data_contracts import dataset
from publish import datapackage
from publish.exports import sha256

DATASET = dataset("population_by_province_age_sex")
GOOD = "01,Thành phố Hà Nội,30-34,male,12,false\r\n01,Thành phố Hà Nội,30-34,female,,true\r\n"


def _write(out: Path, rows: str) -> Path:
    csv = out / "data.csv"
    csv.write_text(",".join(c.name for c in DATASET.columns) + "\r\n" + rows, encoding="utf-8")
    return datapackage.write(
        DATASET,
        csv,
        sha256(csv),
        {"gold_delta_version": 1, "gold_committed_at": "2026-12-01T00:00:00+00:00"},
        "http://portal/x",
        out,
    )


def test_identical_bytes_are_validated_once_and_changed_ones_again(tmp_path: Path, monkeypatch) -> None:
    calls = []
    real = datapackage.validate
    monkeypatch.setattr(datapackage, "validate", lambda path: calls.append(path) or real(path))
    _write(tmp_path, GOOD)
    _write(tmp_path, GOOD)
    assert len(calls) == 1
    _write(tmp_path, GOOD.replace(",12,", ",13,"))
    assert len(calls) == 2


def test_a_broken_csv_is_refused_even_after_a_valid_one(tmp_path: Path) -> None:
    _write(tmp_path, GOOD)
    with pytest.raises(datapackage.DataPackageError, match="does not validate"):
        _write(tmp_path, GOOD.replace(",12,", ",twelve,"))
    assert not (tmp_path / datapackage.VALIDATED).exists()
    with pytest.raises(datapackage.DataPackageError):  # and stays refused on a rerun
        _write(tmp_path, GOOD.replace(",12,", ",twelve,"))
