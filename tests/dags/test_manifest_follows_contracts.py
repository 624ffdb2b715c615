"""The DAG renders the dbt models of the contracts it sees: when the contract files change (a new folder
in LAKEHOUSE_CONTRACTS_DIRS), parsing the DAG regenerates the models and re-parses dbt's manifest;
when they have not changed, it does not."""

from __future__ import annotations

import json

import pytest

from data_contracts import contracts_fingerprint
from lakehouse.core.settings import REPO_ROOT
from orchestration import dbt_task_group

SOCIAL = REPO_ROOT / "tests" / "fixtures" / "contracts_social"
GENERATED_SILVER = "model.lakehouse.int_social__household_benefits"


def _nodes() -> dict:
    return json.loads(dbt_task_group.MANIFEST.read_text())["nodes"]


def test_the_manifest_is_reparsed_when_the_contracts_change_and_only_then(monkeypatch: pytest.MonkeyPatch) -> None:
    try:
        monkeypatch.setenv("LAKEHOUSE_CONTRACTS_DIRS", str(SOCIAL))
        dbt_task_group.current_manifest()
        assert GENERATED_SILVER in _nodes()
        assert dbt_task_group.FINGERPRINT.read_text().strip() == contracts_fingerprint()
        parsed_at = dbt_task_group.MANIFEST.stat().st_mtime_ns
        dbt_task_group.current_manifest()  # same contracts: no dbt parse
        assert dbt_task_group.MANIFEST.stat().st_mtime_ns == parsed_at
    finally:
        monkeypatch.delenv("LAKEHOUSE_CONTRACTS_DIRS")
        dbt_task_group.current_manifest()
    assert GENERATED_SILVER not in _nodes()
