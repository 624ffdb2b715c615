"""Benchmark: Spark JDBC -> bronze Delta ingestion vs PostgreSQL COPY of the same table to a file.

Both run in this script against the same seeded population.citizen table; the figure is the ratio
of throughputs (ingest rows/s / COPY rows/s), 1.0 = as fast as the database can dump the table.

    bench/run.sh                      # default scale
    python bench/ingest_ratio.py --scale 1000000
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import psycopg

from data_contracts import source_table
from infra.synthetic_sectors import seed
from lakehouse.config import Settings
from spark_jobs.ingest import ingest_table
from spark_jobs.session import spark_session


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=int, default=200_000, help="citizens to seed (default 200000)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(Settings.from_env(), lake_root=Path(tmp))
        rows = seed(settings, scale=args.scale, dirty_share=0.0).rows["population.citizen"]
        citizen = source_table("population", "citizen")
        spark = spark_session(settings, "bench-ingest")
        ingest_table(spark, settings, citizen, batch_version=0)  # warm-up: JVM, JDBC driver
        ingest_s, copy_s = [], []
        for i in range(1, args.repeat + 1):
            t = time.perf_counter()
            ingest_table(spark, settings, citizen, batch_version=i)
            ingest_s.append(time.perf_counter() - t)
            t = time.perf_counter()
            with (
                psycopg.connect(f"{settings.postgres_url}/population") as conn,
                open(Path(tmp) / "copy.csv", "wb") as fh,
                conn.cursor().copy("COPY citizen TO STDOUT") as copy,
            ):
                for block in copy:
                    fh.write(block)
            copy_s.append(time.perf_counter() - t)
        spark.stop()
    best_ingest, best_copy = min(ingest_s), min(copy_s)
    print(
        f"rows {rows}: ingest best {best_ingest:.2f}s ({rows / best_ingest:,.0f} rows/s), "
        f"COPY best {best_copy:.2f}s ({rows / best_copy:,.0f} rows/s)"
    )
    print(f"ingest/COPY throughput ratio: {best_copy / best_ingest:.2f}")


if __name__ == "__main__":
    main()
