"""Progress lines for long Spark reads: tasks done / total and elapsed time, every few seconds."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


@contextmanager
def progress(spark: SparkSession, label: str, every: float = 5.0) -> Iterator[None]:
    """Log `label: stage tasks done/total, N s` while the block runs (silent for short blocks)."""
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
            log.info("%s: %d/%d tasks, %.0f s", label, done, total, time.monotonic() - started)

    thread = threading.Thread(target=report, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
