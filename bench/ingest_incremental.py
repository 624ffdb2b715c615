"""Incremental ingestion after 0.5% of population.citizen changed (updates, inserts, deletes), divided
by a full ingestion of the same table, same run, with the default engine. Last line: the time ratio (aim <= 0.10).

    .venv-data/bin/python bench/ingest_incremental.py --rows 2000000
"""

from __future__ import annotations

import tempfile
import time

from bench.common import args, peak_rss_mb, settings
from data_contracts import source_table
from spark_jobs.ingest import ingest_table
from spark_jobs.source import open_engine
from synthetic.sectors import change_citizens, seed_scaled


def main() -> None:
    opts = args(__doc__ or "")
    with tempfile.TemporaryDirectory() as tmp:
        cfg = settings(tmp)
        rows = seed_scaled(cfg, opts.rows)
        citizen = source_table("population", "citizen")
        with open_engine(cfg, "bench-incremental") as engine:
            ingest_table(engine, cfg, citizen, batch_version=1)  # warm-up and initial load
            started = time.perf_counter()
            ingest_table(engine, cfg, citizen, batch_version=2, full_refresh=True)
            full_s = time.perf_counter() - started
            change = change_citizens(cfg, share=0.005)
            started = time.perf_counter()
            result = ingest_table(engine, cfg, citizen, batch_version=3)
            incremental_s = time.perf_counter() - started
        python_mb, _ = peak_rss_mb()
    print(f"rows {rows:,}; changed {change.updated} updated, {change.inserted} inserted, {change.deleted} deleted")
    print(
        f"full {full_s:.2f} s; incremental {incremental_s:.2f} s (read {result.rows_read}, "
        f"deleted {result.rows_deleted}); {cfg.engine} engine, peak memory {python_mb:,.0f} MB"
    )
    print(f"incremental / full time ratio: {incremental_s / full_s:.2f}")


if __name__ == "__main__":
    main()
