"""The dbt project through Airflow (the `lakehouse_transform` DAG: Cosmos, a task per model, watcher
execution mode) against one `dbt build` from the CLI (`bin/lakehouse transform`), over the same bronze
tables. Each run starts from an empty silver and gold.

Airflow runs the DAG through the real scheduler (airflow standalone: LocalExecutor, triggerer; the DAG
run's queued-to-finished time), which is how the pipeline runs. The first run after the services start
pays their warm-up (the API server's first task start took 3-4 s here), which a running deployment paid
long before: it is shown, not compared. Then CLI and scheduler runs alternate (--repeats, default 3) and
the medians are compared: single runs on 2 cores vary by +-2 s. `airflow dags test` (every task in one
process, one at a time) is shown for reference.
Last line: scheduler / CLI, medians (aim <= 1.3).

    .venv-data/bin/python -m bench.dbt_airflow_vs_cli --rows 1000000
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from bench.common import args, settings
from data_contracts import source_tables
from lakehouse.core.settings import REPO_ROOT
from spark_jobs.ingest import ingest_table
from spark_jobs.source import open_engine
from synthetic.sectors import seed_scaled

PRODUCER = "dbt_producer_watcher"  # Cosmos' task id (the bench runs in the data venv, without Cosmos)
DERIVED = ("silver", "gold", "quarantine/population/residents")
AIRFLOW = ["bash", "infra/airflow.sh"]


def _fresh(lake: Path) -> None:
    """Silver and gold as before the first build (bronze and its quarantine stay)."""
    for zone in DERIVED:
        shutil.rmtree(lake / zone, ignore_errors=True)


def _cli(env: dict[str, str], lake: Path) -> float:
    _fresh(lake)
    started = time.perf_counter()
    subprocess.run(["bin/lakehouse", "transform"], env=env, cwd=REPO_ROOT, check=True, capture_output=True)
    return time.perf_counter() - started


def _in_process(env: dict[str, str], lake: Path) -> tuple[float, int]:
    """`airflow dags test`: its run duration and the number of tasks it ran."""
    _fresh(lake)
    run = subprocess.run(
        [*AIRFLOW, "test", "lakehouse_transform"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    finished = re.search(r"DagRun Finished: .*run_duration=([0-9.]+), state=(\w+)", run.stdout)
    if run.returncode != 0 or not finished or finished.group(2) != "success":
        raise SystemExit(f"the lakehouse_transform DAG run failed:\n{run.stdout[-3000:]}{run.stderr[-2000:]}")
    return float(finished.group(1)), len(set(re.findall(r"starting task_id=(\S+)", run.stdout)))


@contextmanager
def _scheduler(env: dict[str, str], tmp: Path) -> Iterator[dict[str, str]]:
    """Airflow's services of their own (metadata database, port, home) for the benchmark's runs."""
    env = {
        **env,
        "AIRFLOW_PORT": os.environ.get("BENCH_AIRFLOW_PORT", "8097"),
        "AIRFLOW_PG_DB": "airflow_bench",
        "AIRFLOW_SERVER_HOME": str(tmp / "airflow-server"),
    }
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "airflow_bench"], check=True)
    subprocess.run([*AIRFLOW, "start"], env=env, cwd=REPO_ROOT, check=True, capture_output=True)
    try:
        yield env
    finally:
        subprocess.run([*AIRFLOW, "stop"], env=env, cwd=REPO_ROOT, capture_output=True)


def _scheduled(env: dict[str, str], lake: Path) -> tuple[float, str]:
    """One lakehouse_transform run through the scheduler: queued-to-finished seconds, where they went."""
    _fresh(lake)
    run = subprocess.run(
        [*AIRFLOW, "api", "trigger", "lakehouse_transform", "--wait"],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    finished = re.search(r": success in ([0-9.]+) s", run.stdout)
    if run.returncode != 0 or not finished:
        raise SystemExit(f"lakehouse_transform failed under the scheduler:\n{run.stdout}{run.stderr[-2000:]}")
    timeline = subprocess.run(
        [*AIRFLOW, "api", "timeline", "lakehouse_transform"], env=env, cwd=REPO_ROOT, capture_output=True, text=True
    )
    return float(finished.group(1)), _where_the_time_went(timeline.stdout)


def _where_the_time_went(timeline: str) -> str:
    """When the producer started and how long after it the other tasks ended (seconds)."""
    stamps = {}
    for line in timeline.splitlines():
        queued, started, ended, _state, task = line.split()
        stamps[task] = [None if v == "-" else datetime.fromisoformat(v) for v in (queued, started, ended)]
    producer = next((v for k, v in stamps.items() if k.endswith(PRODUCER)), None)
    ends = [v[2] for v in stamps.values() if v[2]]
    if not producer or None in producer or not ends:
        return "no timeline"
    queued, started, ended = producer
    return (
        f"producer started {(started - queued).total_seconds():.1f} s after queued, "
        f"ran {(ended - started).total_seconds():.1f} s; the last task ended "
        f"{(max(ends) - ended).total_seconds():.1f} s after it"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    repeats = ap.parse_known_args()[0].repeats
    rows = min(args(__doc__).rows, 1_000_000)  # run.sh passes --rows for the ingestion benchmarks (2M)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = settings(tmp)
        seed_scaled(cfg, rows)
        with open_engine(cfg) as engine:
            for table in source_tables():
                ingest_table(engine, cfg, table, batch_version=1)
        env = {**os.environ, "LAKE_ROOT": str(cfg.lake_root), "LAKEHOUSE_VAR": tmp, "AIRFLOW_HOME": f"{tmp}/airflow"}
        subprocess.run([*AIRFLOW, "init"], env=env, cwd=REPO_ROOT, check=True, capture_output=True)
        in_process, tasks = _in_process(env, cfg.lake_root)
        cli, scheduled = [], []
        with _scheduler(env, Path(tmp)) as server:
            warm_up, where = _scheduled(server, cfg.lake_root)
            print(f"scheduler, first run after the services started: {warm_up:.1f} s ({where})", flush=True)
            for i in range(repeats):
                cli.append(_cli(env, cfg.lake_root))
                seconds, where = _scheduled(server, cfg.lake_root)
                scheduled.append(seconds)
                print(f"run {i + 1}: CLI {cli[-1]:.1f} s; scheduler {seconds:.1f} s ({where})", flush=True)
    cli_s, scheduled_s = statistics.median(cli), statistics.median(scheduled)
    print(f"population.citizen rows: {rows:,}; DAG tasks: {tasks}")
    print(f"`airflow dags test`: {in_process:.1f} s ({in_process / cli_s:.2f} of the CLI)")
    print(f"medians of {repeats}: dbt build from the CLI {cli_s:.1f} s; through the scheduler {scheduled_s:.1f} s")
    print(f"Airflow (scheduler) / CLI: {scheduled_s / cli_s:.2f}")


if __name__ == "__main__":
    main()
