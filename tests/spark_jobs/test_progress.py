"""Long reads report estimated rows, rows/s and elapsed time while they run."""

from __future__ import annotations

import logging
import time

from lakehouse.core.settings import Settings
from spark_jobs.progress import progress
from spark_jobs.session import spark_session


def test_progress_lines_while_a_job_runs(caplog) -> None:
    spark = spark_session(Settings.from_env(), "test-progress")
    caplog.set_level(logging.INFO, logger="spark_jobs.progress")
    try:
        with progress(spark, "demo.table: reading", expected_rows=1000, every=0.2):
            spark.range(4).repartition(2).foreach(lambda _: time.sleep(1))
    finally:
        spark.stop()
    lines = [r.getMessage() for r in caplog.records if r.name == "spark_jobs.progress"]
    assert lines and all(line.startswith("demo.table: reading: ~") for line in lines)
    assert "/1,000 rows" in lines[-1] and "rows/s" in lines[-1]
