"""The one SparkSession builder: JDBC drivers from Debian, Parquet settings the Delta commit needs."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pyspark.sql import SparkSession

from lakehouse.core.settings import Settings

# Debian's libpostgresql-jdbc-java and libmariadb-java (no Maven repository reachable here).
JDBC_JARS = (Path("/usr/share/java/postgresql.jar"), Path("/usr/share/java/mariadb-java-client.jar"))


def spark_session(settings: Settings, app_name: str) -> SparkSession:
    """A session for one ingestion run; settings the driver-side Delta commit relies on are fixed here."""
    missing = [str(j) for j in JDBC_JARS if not j.exists()]
    if missing:
        raise RuntimeError(f"JDBC driver jars missing: {', '.join(missing)}; run `make setup`")
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Watermarks travel as naive datetimes between JDBC, Spark and Python: keep all three in UTC.
    os.environ["TZ"] = "UTC"
    time.tzset()
    jars = os.environ.get("SPARK_JDBC_JARS", ",".join(str(j) for j in JDBC_JARS))
    return (
        SparkSession.builder.master(settings.spark_master)
        .appName(app_name)
        .config("spark.jars", jars)
        .config("spark.driver.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.executor.extraJavaOptions", "-Duser.timezone=UTC")
        .config("spark.sql.session.timeZone", "UTC")
        # Without TIMESTAMP_MICROS the footers carry no timestamp statistics for Delta stats.
        .config("spark.sql.parquet.outputTimestampType", "TIMESTAMP_MICROS")
        # No .crc side files and no _SUCCESS markers inside the Delta table folder.
        .config("spark.hadoop.fs.file.impl", "org.apache.hadoop.fs.RawLocalFileSystem")
        .config("spark.hadoop.fs.file.impl.disable.cache", "true")
        .config("spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs", "false")
        .config("spark.sql.shuffle.partitions", "4")
        # Partitioned writes (clean vs quarantined rows) without a sort: a few concurrent writers per task.
        .config("spark.sql.maxConcurrentOutputFiles", "8")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")  # spark_jobs.progress logs instead
        .getOrCreate()
    )
