"""Publish 20 datasets to a real CKAN cold, then republish them unchanged. Last line: republish / cold
time ratio, and the republish's upload count (must be 0: content hashes are unchanged).

    .venv-data/bin/python -m bench.publish_republish --datasets 20

Uses its own portal (infra/ckan.sh on port 5077, database ckan_bench_portal, folder var/ckan-bench),
left running for reruns; `make stop` does not touch it: CKAN_PORT=5077 ... infra/ckan.sh stop.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
import uuid
from pathlib import Path

import ckanapi
import pyarrow as pa

from bench.common import portal
from data_contracts import dataset
from lakehouse.core import commit
from lakehouse.core.settings import Settings
from publish.ckan_api import CkanApi
from publish.ckan_portal import publish_dataset


def _gold(seed: int) -> pa.Table:
    """34 provinces x 17 age bands x 2 sexes, every count above the disclosure threshold."""
    rows = [
        (f"{p:02d}", f"Province {p:02d}", f"{5 * a:02d}-{5 * a + 4:02d}", sex, 10 + (p * 31 + a * 7 + s + seed) % 900)
        for p in range(1, 35)
        for a in range(17)
        for s, sex in enumerate(("male", "female"))
    ]
    cols = list(zip(*rows, strict=True))
    return pa.table(
        {
            "province_code_2025": cols[0],
            "province_name_2025": cols[1],
            "age_band": cols[2],
            "sex": cols[3],
            "population": pa.array(cols[4], pa.int64()),
            "suppressed": [False] * len(rows),
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--datasets", type=int, default=20)
    opts = ap.parse_known_args()[0]
    url, token = portal()
    os.environ["CKAN_API_TOKEN"] = token
    run = uuid.uuid4().hex[:6]
    base = dataset("population_by_province_age_sex")
    with tempfile.TemporaryDirectory() as tmp:
        settings = dataclasses.replace(
            Settings.from_env(), var_dir=Path(tmp), lake_root=Path(tmp) / "lake", ckan_url=url
        )
        datasets = [
            dataclasses.replace(base, name=f"bench-{run}-{i:02d}", contract_id=f"urn:bench-{run}:dataset:{i}")
            for i in range(opts.datasets)
        ]
        for i, ds in enumerate(datasets):
            table = _gold(i)
            commit.overwrite(ds.gold_path(settings.lake_root), table)
            summary = {
                "dataset": ds.name,
                "cells": table.num_rows,
                "primary_suppressed": 0,
                "complementary_suppressed": 0,
                "smallest_published_count": min(table["population"].to_pylist()),  # the gate reconciles it
                "min_cell_count": 10,
            }
            commit.overwrite(ds.disclosure_path(settings.lake_root), pa.Table.from_pylist([summary]))
        cold_portal, warm_portal = CkanApi(url, token), CkanApi(url, token)
        started = time.perf_counter()
        for ds in datasets:
            publish_dataset(settings, ds, portal=cold_portal)
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        actions = [publish_dataset(settings, ds, portal=warm_portal).action for ds in datasets]
        warm_s = time.perf_counter() - started
        ckan = ckanapi.RemoteCKAN(url, apikey=token)
        for ds in datasets:
            ckan.action.dataset_purge(id=ds.name)
    print(f"{opts.datasets} datasets x {table.num_rows} rows, portal {url}")
    print(
        f"cold publish {cold_s:.2f} s ({cold_portal.uploads} uploads); republish {warm_s:.2f} s "
        f"({warm_portal.uploads} uploads, actions {sorted(set(actions))})"
    )
    print(f"republish / cold time ratio: {warm_s / cold_s:.2f}; republish uploads: {warm_portal.uploads}")


if __name__ == "__main__":
    main()
