"""The dbt project through Airflow (the `lakehouse_transform` DAG: Cosmos, a task per model, watcher
execution mode) against one `dbt build` from the CLI, over the same bronze tables. Each run starts from
an empty silver and gold. Airflow runs the DAG twice: through the real scheduler (airflow standalone,
LocalExecutor, triggerer; the DAG run's queued-to-finished time), which is how the pipeline runs, and
with `airflow dags test` (every task in one process, one at a time; shown for reference).
Last line: scheduler / CLI (aim <= 1.3).

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
        in_process = float(finished.group(1))
        tasks = len(set(re.findall(r"starting task_id=(\S+)", run.stdout)))

        _fresh(cfg.lake_root)
        scheduled = _scheduled(env, Path(tmp))
    print(f"population.citizen rows: {rows:,}; DAG tasks: {tasks}")
    print(f"dbt build from the CLI: {cli:.1f} s; `airflow dags test`: {in_process:.1f} s ({in_process / cli:.2f})")
    print(f"lakehouse_transform through the scheduler: {scheduled:.1f} s")
    print(f"Airflow (scheduler) / CLI: {scheduled / cli:.2f}")


def _scheduled(env: dict[str, str], tmp: Path) -> float:
    """One lakehouse_transform run through a scheduler of its own; the run's queued-to-finished seconds."""
    env = {
        **env,
        "AIRFLOW_PORT": os.environ.get("BENCH_AIRFLOW_PORT", "8097"),
        "AIRFLOW_PG_DB": "airflow_bench",
        "AIRFLOW_SERVER_HOME": str(tmp / "airflow-server"),
    }
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "airflow_bench"], check=True)
    airflow = ["bash", "infra/airflow.sh"]
    subprocess.run([*airflow, "start"], env=env, cwd=REPO_ROOT, check=True, capture_output=True)
    try:
        run = subprocess.run(
            [*airflow, "api", "trigger", "lakehouse_transform", "--wait"],
            env=env,
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        finished = re.search(r": success in ([0-9.]+) s", run.stdout)
        if run.returncode != 0 or not finished:
            raise SystemExit(f"lakehouse_transform failed under the scheduler:\n{run.stdout}{run.stderr[-2000:]}")
        return float(finished.group(1))
    finally:
        subprocess.run([*airflow, "stop"], env=env, cwd=REPO_ROOT, capture_output=True)


if __name__ == "__main__":
    main()
