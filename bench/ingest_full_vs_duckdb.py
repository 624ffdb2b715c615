"""Full ingestion of population.citizen into bronze (Spark JDBC -> Parquet -> one Delta commit, with
the contract's quality rules) vs DuckDB's postgres_scanner writing the same table to Parquet, on the
same data in the same run. Last line: the ratio of rows/s (aim >= 0.8).

    .venv-data/bin/python bench/ingest_full_vs_duckdb.py --rows 2000000
"""

from __future__ import annotations

import pathlib
import tempfile
import time

import duckdb
import duckdb_extension_postgres_scanner

from bench.common import args, peak_rss_mb, settings
from data_contracts import source_table
from spark_jobs.ingest import ingest_table
from spark_jobs.session import spark_session
from synthetic.sectors import seed_scaled


def duckdb_baseline(postgres_url: str, out: pathlib.Path) -> float:
    ext = next(pathlib.Path(duckdb_extension_postgres_scanner.__file__).parent.rglob("*.duckdb_extension"))
    con = duckdb.connect()
    con.load_extension(str(ext))
    dsn = postgres_url.replace("postgresql://", "").split("@")
    user, hostport = dsn[0], dsn[1]
    host, port = hostport.split(":")
    con.execute(f"ATTACH 'dbname=population user={user} host={host} port={port}' AS pg (TYPE postgres, READ_ONLY)")
    started = time.perf_counter()
    con.execute(f"COPY (SELECT * FROM pg.public.citizen) TO '{out}' (FORMAT parquet)")
    return time.perf_counter() - started


def main() -> None:
    opts = args(__doc__ or "")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = settings(tmp)
        rows = seed_scaled(cfg, opts.rows)
        citizen = source_table("population", "citizen")
        spark = spark_session(cfg, "bench-full")
        ingest_table(spark, cfg, citizen, batch_version=1)  # warm-up: JVM, JDBC driver, code paths
        started = time.perf_counter()
        result = ingest_table(spark, cfg, citizen, batch_version=2, full_refresh=True)
        spark_s = time.perf_counter() - started
        jvm_pid = spark.sparkContext._jvm.ProcessHandle.current().pid()
        python_mb, jvm_mb = peak_rss_mb(jvm_pid)
        spark.stop()
        duck_s = min(duckdb_baseline(cfg.postgres_url, pathlib.Path(tmp) / f"d{i}.parquet") for i in range(2))
    print(
        f"rows {rows:,}: lakehouse ingest {spark_s:.2f} s ({result.rows_read / spark_s:,.0f} rows/s, "
        f"{result.rows_quarantined} quarantined), DuckDB postgres_scanner {duck_s:.2f} s ({rows / duck_s:,.0f} rows/s)"
    )
    print(f"peak memory: Python driver {python_mb:,.0f} MB, Spark JVM {jvm_mb:,.0f} MB")
    print(f"full ingest / DuckDB rows-per-second ratio: {(result.rows_read / spark_s) / (rows / duck_s):.2f}")


if __name__ == "__main__":
    main()
