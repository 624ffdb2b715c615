"""Full ingestion of population.citizen into bronze (read, contract checks, Parquet, one Delta commit)
vs DuckDB's postgres_scanner writing the same table to Parquet with no checks, on the same data in the
same run. Both engines are measured: DuckDB (the single-machine default) and Spark JDBC, in local mode
and on a standalone cluster (a master and two workers, infra/spark_cluster.sh; `--no-cluster` skips it).
Last line: the default engine's rows/s ratio (aim >= 0.8).

    .venv-data/bin/python -m bench.ingest_full_vs_duckdb --rows 2000000 [--no-cluster]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import pathlib
import subprocess
import tempfile
import time

import duckdb

from bench.common import peak_rss_mb, settings
from data_contracts import source_table
from lakehouse.core.duckdb_extensions import extension_path
from lakehouse.core.settings import REPO_ROOT, Settings
from spark_jobs.ingest import ingest_table
from spark_jobs.source import Server, open_engine
from synthetic.sectors import seed_scaled

CLUSTER_PORT, CLUSTER_UI = "7377", "8380"


def duckdb_baseline(cfg: Settings, out: pathlib.Path) -> float:
    citizen = source_table("population", "citizen")
    server = Server.of(cfg, citizen)
    con = duckdb.connect()
    con.load_extension(extension_path("postgres_scanner"))
    dsn = f"dbname={server.database} user={server.user} host={server.host} port={server.port}"
    con.execute(f"ATTACH '{dsn}' AS pg (TYPE postgres, READ_ONLY)")
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM pg.public.citizen) TO '{out}' (FORMAT parquet)")
    return time.perf_counter() - started


def timed_ingest(cfg: Settings, engine_name: str, master: str | None = None) -> tuple[float, int]:
    """Rows/s of a full refresh (after a warm-up load) with the named engine; returns (seconds, rows)."""
    cfg = dataclasses.replace(cfg, ingest_engine=engine_name, spark_master=master or cfg.spark_master)
    citizen = source_table("population", "citizen")
    with open_engine(cfg, f"bench-full-{engine_name}") as engine:
        ingest_table(engine, cfg, citizen, batch_version=1, full_refresh=True)  # warm-up: JVM, drivers
        started = time.perf_counter()
        result = ingest_table(engine, cfg, citizen, batch_version=2, full_refresh=True)
        return time.perf_counter() - started, result.rows_read


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--no-cluster", action="store_true", help="skip Spark on a standalone cluster")
    opts, _ = ap.parse_known_args()
    with tempfile.TemporaryDirectory() as tmp:
        cfg = settings(tmp)
        rows = seed_scaled(cfg, opts.rows)
        duck_s = min(duckdb_baseline(cfg, pathlib.Path(tmp) / f"d{i}.parquet") for i in range(2))
        baseline = rows / duck_s
        figures = {"duckdb": timed_ingest(cfg, "duckdb"), "spark local[2]": timed_ingest(cfg, "spark")}
        if not opts.no_cluster:
            env = {**os.environ, "LAKEHOUSE_VAR": tmp, "SPARK_CLUSTER_PORT": CLUSTER_PORT}
            env["SPARK_CLUSTER_UI_PORT"] = CLUSTER_UI
            script = str(REPO_ROOT / "infra" / "spark_cluster.sh")
            subprocess.run(["bash", script, "start"], env=env, check=True, capture_output=True)
            try:
                figures["spark cluster (2 workers)"] = timed_ingest(cfg, "spark", f"spark://127.0.0.1:{CLUSTER_PORT}")
            finally:
                subprocess.run(["bash", script, "stop"], env=env, check=False, capture_output=True)
        python_mb, _ = peak_rss_mb()
    print(f"rows {rows:,}; DuckDB postgres_scanner -> Parquet {duck_s:.2f} s ({baseline:,.0f} rows/s)")
    for name, (seconds, n) in figures.items():
        rate = n / seconds
        print(f"lakehouse ingest, {name:<26} {seconds:6.2f} s ({rate:>10,.0f} rows/s) ratio {rate / baseline:.2f}")
    print(f"peak memory of this process (DuckDB engine, driver): {python_mb:,.0f} MB")
    seconds, n = figures[Settings.from_env().engine]
    print(f"full ingest ({Settings.from_env().engine}) / DuckDB rows-per-second ratio: {n / seconds / baseline:.2f}")


if __name__ == "__main__":
    main()
