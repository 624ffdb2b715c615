"""The dbt project through Airflow (the `lakehouse_transform` DAG: Cosmos, a task per model, watcher
execution mode) against one `dbt build` from the CLI, over the same bronze tables. Both start from an
empty silver and gold. Airflow runs the DAG with `airflow dags test` (the real operators and task
runner, one task at a time); its figure is the DAG run's duration. Last line: the ratio (aim <= 1.3).

    .venv-data/bin/python -m bench.dbt_airflow_vs_cli --rows 200000
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench.common import args, settings
from data_contracts import source_tables
from lakehouse.core.settings import REPO_ROOT
from spark_jobs.ingest import ingest_table
from spark_jobs.source import open_engine
from synthetic.sectors import seed_scaled

DERIVED = ("silver", "gold", "quarantine/population/residents")


def _fresh(lake: Path) -> None:
    """Silver and gold as before the first build (bronze and its quarantine stay)."""
    for zone in DERIVED:
        shutil.rmtree(lake / zone, ignore_errors=True)


def main() -> None:
    rows = min(args(__doc__).rows, 1_000_000)  # run.sh passes --rows for the ingestion benchmarks (2M)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = settings(tmp)
        seed_scaled(cfg, rows)
        with open_engine(cfg) as engine:
            for table in source_tables():
                ingest_table(engine, cfg, table, batch_version=1)
        env = {**os.environ, "LAKE_ROOT": str(cfg.lake_root), "LAKEHOUSE_VAR": tmp, "AIRFLOW_HOME": f"{tmp}/airflow"}
        subprocess.run(["bash", "infra/airflow.sh", "init"], env=env, cwd=REPO_ROOT, check=True, capture_output=True)

        _fresh(cfg.lake_root)
        started = time.perf_counter()
        subprocess.run(["bin/lakehouse", "transform"], env=env, cwd=REPO_ROOT, check=True, capture_output=True)
        cli = time.perf_counter() - started

        _fresh(cfg.lake_root)
        run = subprocess.run(
            ["bash", "infra/airflow.sh", "test", "lakehouse_transform"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        finished = re.search(r"DagRun Finished: .*run_duration=([0-9.]+), state=(\w+)", run.stdout)
        if run.returncode != 0 or not finished or finished.group(2) != "success":
            raise SystemExit(f"the lakehouse_transform DAG run failed:\n{run.stdout[-3000:]}{run.stderr[-2000:]}")
        airflow = float(finished.group(1))
        tasks = len(set(re.findall(r"starting task_id=(\S+)", run.stdout)))
    print(f"population.citizen rows: {rows:,}; DAG tasks run: {tasks}")
    print(f"dbt build from the CLI: {cli:.1f} s; lakehouse_transform through Airflow: {airflow:.1f} s")
    print(f"Airflow / CLI: {airflow / cli:.2f}")


if __name__ == "__main__":
    main()
