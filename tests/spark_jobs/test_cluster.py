"""The scale-out path, run: the same ingestion code against a Spark standalone cluster (a master and
two workers started with pyspark's own daemon script), through the CLI as a scheduler would run it."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from data_contracts import source_tables
from lakehouse.core.lake import read_table
from lakehouse.core.settings import REPO_ROOT, Settings
from synthetic.sectors import seed

SCRIPT = str(REPO_ROOT / "infra" / "spark_cluster.sh")
PORT, UI = os.environ.get("TEST_SPARK_CLUSTER_PORT", "7277"), os.environ.get("TEST_SPARK_CLUSTER_UI_PORT", "8280")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    var = tmp_path_factory.mktemp("cluster")
    env = {**os.environ, "LAKEHOUSE_VAR": str(var), "SPARK_CLUSTER_PORT": PORT, "SPARK_CLUSTER_UI_PORT": UI}
    subprocess.run(["bash", SCRIPT, "start"], env=env, check=True, timeout=180)
    yield env
    subprocess.run(["bash", SCRIPT, "stop"], env=env, check=False, timeout=120)


def _master_state() -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{UI}/json/", timeout=10) as response:
        return json.load(response)


def test_ingestion_runs_on_a_standalone_cluster_with_the_same_code(cluster: dict[str, str], tmp_path: Path) -> None:
    settings = dataclasses.replace(Settings.from_env(), lake_root=tmp_path / "lake")
    seed(settings, scale=300, dirty_share=0.0, seed=12)
    env = {
        **cluster,
        "SPARK_MASTER": f"spark://127.0.0.1:{PORT}",
        "LAKE_ROOT": str(settings.lake_root),
        "PYTHONPATH": str(REPO_ROOT),
    }
    run = subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), "ingest", "--sector", "transport", "--batch-version", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    state = _master_state()
    assert sum(w["state"] == "ALIVE" for w in state["workers"]) == 2
    apps = [a for a in state["completedapps"] if a["name"] == "lakehouse-ingest"]
    assert apps and apps[-1]["state"] == "FINISHED"  # the job ran on the cluster, not in local mode
    for table in (t for t in source_tables() if t.sector == "transport"):
        bronze, version = read_table(table.bronze_path(settings.lake_root))
        assert version == 0 and bronze.num_rows > 0, table.qualified_name
        assert f"{table.qualified_name:<32} full" in run.stdout
        keys = bronze[table.primary_key[0]].to_pylist()
        assert len(keys) == len(set(keys))  # each row once, though written by executors on two workers
