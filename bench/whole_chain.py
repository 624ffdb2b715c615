"""The whole chain at scale: sector databases -> bronze -> silver -> gold -> CKAN, once through the real
Airflow scheduler (airflow standalone, LocalExecutor, PostgreSQL metadata; triggered as `make demo`
does: every sector's ingestion DAG, then the asset-triggered dbt and publishing DAGs) and once as the
CLI stages one after another, on the same seeded sources (every sector scaled), each into an empty lake
and an emptied benchmark portal. Memory: the peak of the summed resident memory of every process of
the run (Airflow's scheduler, API server, DAG processor, triggerer, task processes, dbt, DuckDB,
Spark), sampled twice a second; the shared database servers and CKAN are not counted.
Last line: scheduler wall time / sum of the CLI stages.

    .venv-data/bin/python -m bench.whole_chain --citizens 1000000
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import ckanapi

from bench.common import portal, settings
from lakehouse.core.settings import REPO_ROOT
from synthetic.sectors import seed

AIRFLOW = str(REPO_ROOT / "infra" / "airflow.sh")


class PeakRss:
    """Peak of the summed RSS (MB) of the processes whose environment holds `marker`."""

    def __init__(self, marker: str) -> None:
        self.marker, self.peak_mb, self._stop = marker.encode(), 0.0, threading.Event()

    def _sample(self) -> float:
        total = 0
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if self.marker not in (proc / "environ").read_bytes().split(b"\0"):
                    continue
                for line in (proc / "status").read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            except OSError:  # gone meanwhile, or not ours to read
                continue
        return total / 1024

    @contextmanager
    def watch(self) -> Iterator[PeakRss]:
        def loop() -> None:
            while not self._stop.wait(0.5):
                self.peak_mb = max(self.peak_mb, self._sample())

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            thread.join()


def empty_portal(url: str, token: str) -> None:
    ckan = ckanapi.RemoteCKAN(url, apikey=token)
    for name in ckan.action.package_list():
        ckan.action.dataset_purge(id=name)


def run(cmd: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return time.perf_counter() - started


def environment(var: Path, url: str, token: str) -> dict[str, str]:
    return {
        **os.environ,
        "LAKEHOUSE_VAR": str(var),
        "LAKE_ROOT": str(var / "lake"),
        "CKAN_URL": url,
        "CKAN_API_TOKEN": token,
        "PYTHONPATH": str(REPO_ROOT),
    }


def cli_chain(var: Path, url: str, token: str) -> tuple[dict[str, float], float]:
    env = environment(var, url, token)
    lakehouse = str(REPO_ROOT / "bin" / "lakehouse")
    with PeakRss(f"LAKEHOUSE_VAR={var}").watch() as rss:
        stages = {
            "ingest": run([lakehouse, "ingest", "--full-refresh", "--batch-version", "1"], env),
            "transform": run([lakehouse, "transform"], env),
            "publish": run([lakehouse, "publish"], env),
        }
    return stages, rss.peak_mb


def scheduled_chain(var: Path, url: str, token: str) -> tuple[float, float]:
    env = environment(var, url, token)
    env.update(
        AIRFLOW_PORT=os.environ.get("BENCH_AIRFLOW_PORT", "8097"),
        AIRFLOW_PG_DB="airflow_bench",
        AIRFLOW_SERVER_HOME=str(var / "airflow-server"),
    )
    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--if-exists", "airflow_bench"], check=True)
    run(["bash", AIRFLOW, "start"], env)
    try:
        listing = subprocess.run(
            [str(REPO_ROOT / "bin" / "lakehouse"), "contracts"], env=env, capture_output=True, text=True, check=True
        ).stdout
        sectors = sorted(
            {f"ingest__{line.split()[1].split('.')[0]}" for line in listing.splitlines() if line.startswith("source")}
        )
        run(["bash", AIRFLOW, "api", "unpause", "lakehouse_transform", "lakehouse_publish"], env)
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        with PeakRss(f"LAKEHOUSE_VAR={var}").watch() as rss:
            started = time.perf_counter()
            run(["bash", AIRFLOW, "api", "trigger", *sectors, "--conf", '{"full_refresh": true}', "--wait"], env)
            run(["bash", AIRFLOW, "api", "wait", "lakehouse_transform", "--since", since], env)
            run(["bash", AIRFLOW, "api", "wait", "lakehouse_publish", "--since", since], env)
            wall = time.perf_counter() - started
        return wall, rss.peak_mb
    finally:
        subprocess.run(["bash", AIRFLOW, "stop"], env=env, capture_output=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--citizens", type=int, default=1_000_000)
    opts, _ = ap.parse_known_args()
    url, token = portal()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = settings(tmp)
        started = time.perf_counter()
        rows = seed(cfg, scale=opts.citizens).rows
        seeded = time.perf_counter() - started
        empty_portal(url, token)
        stages, cli_mb = cli_chain(Path(tmp) / "cli", url, token)
        empty_portal(url, token)
        wall, scheduled_mb = scheduled_chain(Path(tmp) / "scheduled", url, token)
        empty_portal(url, token)
    cli = sum(stages.values())
    print(f"sources: {', '.join(f'{k} {v:,}' for k, v in rows.items())} (seeded in {seeded:.0f} s)")
    each = ", ".join(f"{k} {v:.1f} s" for k, v in stages.items())
    print(f"CLI stages: {each}; sum {cli:.1f} s; peak memory {cli_mb:,.0f} MB")
    print(f"through the scheduler: trigger -> released {wall:.1f} s; peak memory {scheduled_mb:,.0f} MB")
    print(f"whole chain scheduler / CLI time ratio: {wall / cli:.2f}")


if __name__ == "__main__":
    main()
