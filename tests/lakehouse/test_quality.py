"""Quality as data engineers read it: every ingested batch's quarantine rate by rule is recorded (over
the threshold too), and `bin/lakehouse quality` shows the rate, its trend, freshness against the SLA
and completeness per source table, failing with --strict when a contract is missed."""

from __future__ import annotations

import dataclasses
import os
import subprocess

from lakehouse.core.settings import REPO_ROOT, Settings
from lakehouse.quality import history
from synthetic.sectors import seed

LAKEHOUSE = str(REPO_ROOT / "bin" / "lakehouse")


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([LAKEHOUSE, *args], env=env, capture_output=True, text=True, timeout=600, check=False)


def test_batches_are_recorded_by_rule_and_a_missed_threshold_shows(tmp_path) -> None:
    settings = dataclasses.replace(Settings.from_env(), lake_root=tmp_path / "lake", var_dir=tmp_path)
    env = {**os.environ, "LAKE_ROOT": str(settings.lake_root), "LAKEHOUSE_VAR": str(tmp_path)}
    seed(settings, scale=300, dirty_share=0.03, seed=5)
    for _ in range(2):
        assert _run(["ingest", "--sector", "population"], env).returncode == 0
    batches = history(settings, "population.citizen")
    # the first batch read the table; the second (incremental, nothing changed) read no row
    assert len(batches) == 2 and batches[0]["rows_quarantined"] > 0 and batches[1]["rows_read"] == 0
    assert sum(batches[0]["by_rule"].values()) == batches[0]["rows_quarantined"]
    assert all(":" not in rule for rule in batches[0]["by_rule"])  # rule names, not the row's detail
    shown = _run(["quality", "--table", "population.citizen", "--strict"], env)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    line = next(x for x in shown.stdout.splitlines() if "population.citizen" in x)
    assert line.strip().startswith("ok") and "SLA 24 h" in line and "completeness" in line
    worst_rule = max(batches[0]["by_rule"], key=batches[0]["by_rule"].get)
    assert f"failed {worst_rule}" in shown.stdout

    seed(settings, scale=300, dirty_share=0.4, seed=6)  # a source gone bad: over the 10 % threshold
    try:
        failed = _run(["ingest", "--sector", "population", "--full-refresh"], env)
    finally:  # the sector databases are shared by the suite: leave them clean
        seed(settings, scale=300, dirty_share=0.0, seed=6)
    assert failed.returncode != 0 and "over the threshold" in failed.stderr
    assert len(history(settings, "population.citizen")) == 3  # the refused batch is in the trend too
    missed = _run(["quality", "--table", "population.citizen", "--strict"], env)
    assert missed.returncode == 3
    assert next(x for x in missed.stdout.splitlines() if "population.citizen" in x).strip().startswith("MISS")
