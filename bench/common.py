"""Shared set-up for the benchmarks: settings for a lake of their own, the benchmark CKAN portal, peak memory."""

from __future__ import annotations

import argparse
import atexit
import dataclasses
import os
import resource
import subprocess
from pathlib import Path

from lakehouse.core.settings import REPO_ROOT, Settings

PORTAL_ENV = {
    "CKAN_PORT": os.environ.get("BENCH_CKAN_PORT", "5077"),
    "SOLR_PORT": os.environ.get("BENCH_SOLR_PORT", "8977"),
    "CKAN_DB": "ckan_bench_portal",
    "CKAN_DIR": str(REPO_ROOT / "var" / "ckan-bench"),
}


def portal() -> tuple[str, str]:
    """The benchmarks' own CKAN portal (started when down, left running): (url, API token)."""
    env = {**os.environ, **PORTAL_ENV}
    env.pop("CKAN_URL", None)
    script = str(REPO_ROOT / "infra" / "ckan.sh")
    subprocess.run(["bash", script, "start"], env=env, check=True, stdout=subprocess.DEVNULL)
    url = subprocess.run(["bash", script, "url"], env=env, check=True, capture_output=True, text=True).stdout
    token = subprocess.run(["bash", script, "token"], env=env, check=True, capture_output=True, text=True).stdout
    return url.strip(), token.strip()


def args(description: str) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--rows", type=int, default=2_000_000, help="population.citizen rows (default 2M)")
    return ap.parse_known_args()[0]  # run.sh passes every benchmark the same options


def settings(tmp: str) -> Settings:
    """Settings for a lake in `tmp`; its replication slots (change data capture) go with the process."""
    cfg = dataclasses.replace(
        Settings.from_env(), lake_root=Path(tmp) / "lake", cdc_slot_prefix=f"lakehouse_b{os.getpid()}"
    )
    os.environ["LAKEHOUSE_CDC_SLOT_PREFIX"] = cfg.cdc_slot_prefix  # subprocesses too
    atexit.register(_drop_slots, cfg)
    return cfg


def _drop_slots(cfg: Settings) -> None:
    from spark_jobs.cdc import drop_slots

    drop_slots(cfg, cfg.cdc_slot_prefix + "_")


def peak_rss_mb(jvm_pid: int | None = None) -> tuple[float, float]:
    """Peak resident memory (MB) of this Python driver and of the Spark JVM."""
    python = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    jvm = 0.0
    if jvm_pid:
        for line in Path(f"/proc/{jvm_pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                jvm = int(line.split()[1]) / 1024
    return python, jvm
