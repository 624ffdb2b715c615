"""Progress lines for long Spark reads: estimated rows, rows/s and elapsed time, every few seconds.

Spark's status tracker knows tasks, not rows; the planned row count of the read (from the plan
query) times the share of finished tasks is the estimate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@contextmanager
def progress(spark: SparkSession, label: str, expected_rows: int = 0, every: float = 5.0) -> Iterator[None]:
    """Log `label: ~rows/expected rows (pct), rows/s, N s` while the block runs (silent when short)."""
    stop = threading.Event()
    tracker = spark.sparkContext.statusTracker()
    started = time.monotonic()

    def report() -> None:
        while not stop.wait(every):
            done = total = 0
            for stage_id in tracker.getActiveStageIds():
                info = tracker.getStageInfo(stage_id)
                if info:
                    done, total = done + info.numCompletedTasks, total + info.numTasks
            elapsed = time.monotonic() - started
            share = done / total if total else 0.0
            rows = int(expected_rows * share)
            log.info(
                "%s: ~%s/%s rows (%.0f%%), %s rows/s, %.0f s, tasks %d/%d",
                label,
                f"{rows:,}",
                f"{expected_rows:,}",
                share * 100,
                f"{rows / elapsed:,.0f}",
                elapsed,
                done,
                total,
            )

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
