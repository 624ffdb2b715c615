"""dbt build of silver + gold at 1M and at 5M citizens (the population table scales; other sectors stay
at the 100k-citizen seed): the time ratio
shows whether cost grows linearly (aim <= 6x for 5x data). Also the rows/s of the heaviest model
(the pseudonymised residents). Last line: the ratio.

    .venv-data/bin/python -m bench.dbt_scaling --small 1000000 --large 5000000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from bench.common import settings
from data_contracts import source_tables
from dbt_project.runner import DBT_PROJECT, run_dbt
from spark_jobs.ingest import ingest_table
from spark_jobs.source import open_engine
from synthetic.sectors import seed_scaled


def build(rows: int, tmp: str) -> tuple[float, float, int]:
    """Seed, ingest everything, then time one dbt build; returns (seconds, residents seconds, residents rows)."""
    cfg = settings(tmp)
    seed_scaled(cfg, rows)
    with open_engine(cfg) as engine:
        for table in source_tables():
            ingest_table(engine, cfg, table, batch_version=rows)
    os.environ["DBT_DUCKDB_PATH"] = str(Path(tmp) / "bench.duckdb")
    os.environ.setdefault("LAKEHOUSE_PSEUDONYM_KEY", "bench-only-pseudonym-key-0123456789")
    started = time.perf_counter()
    if run_dbt(cfg, "build") != 0:
        raise SystemExit("dbt build failed")
    seconds = time.perf_counter() - started
    results = json.loads((DBT_PROJECT / "target" / "run_results.json").read_text())
    residents = next(r for r in results["results"] if r["unique_id"].endswith(".int_population__residents"))
    n = residents.get("adapter_response", {}).get("rows_affected") or rows
    return seconds, residents["execution_time"], n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--small", type=int, default=1_000_000)
    ap.add_argument("--large", type=int, default=5_000_000)
    args, _ = ap.parse_known_args()
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        small_s, _, _ = build(args.small, a)
        large_s, residents_s, residents_rows = build(args.large, b)
    print(f"dbt build: {args.small:,} citizens {small_s:.1f} s; {args.large:,} citizens {large_s:.1f} s")
    print(f"heaviest model int_population__residents: {residents_s:.1f} s, {residents_rows / residents_s:,.0f} rows/s")
    print(f"dbt build time ratio for {args.large / args.small:.0f}x data: {large_s / small_s:.2f}")


if __name__ == "__main__":
    main()
