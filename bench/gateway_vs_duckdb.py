"""Three representative ministry queries over 1M+ citizens, through the SQL gateway (psycopg over the
PostgreSQL wire) vs embedded DuckDB on the same Delta tables, same run; then the same queries while a
hostile ministry holds 50 connections (refused past its cap) sending 8,000-term ORs, deeply nested and
near-limit statements and exploding recursive CTEs. The embedded baseline runs with the engine settings
a ministry gets (threads, memory limit): the ratio is the gateway's own cost. Last line: the median
time ratio (aim <= 1.15), the p95 with 8 concurrent clients, and the p95 under attack / idle (aim <= 2).

    .venv-data/bin/python -m bench.gateway_vs_duckdb --rows 1000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import psycopg
import pyarrow as pa

from lakehouse.core import commit
from lakehouse.core.duckdb_extensions import extension_path
from lakehouse.core.settings import REPO_ROOT, Settings

MINISTRY = "ministry-of-health"
HOSTILE = "ministry-of-public-security"
HOSTILE_SQL = [
    "SELECT count(*) FROM silver.population_residents WHERE "
    + " OR ".join(f"age_band = '{i}'" for i in range(8000)),  # over the size limit
    "SELECT count(*) FROM silver.population_residents WHERE " + " OR ".join(f"age = {i}" for i in range(6000)),
    "SELECT " + "(" * 2000 + "1" + ")" * 2000 + " AS x",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
    "SELECT count(*) FROM r, silver.population_residents",
]
QUERIES = {
    "population pyramid by province": "SELECT province_code_2025, age_band, sex, count(*) AS n "
    "FROM silver.population_residents GROUP BY ALL ORDER BY ALL",
    "insured by group and province (join)": "SELECT r.province_code_2025, c.beneficiary_group, count(*) AS n "
    "FROM silver.population_residents r JOIN silver.health_insurance_cards c USING (person_pseudonym) "
    "GROUP BY ALL ORDER BY ALL",
    "one province, one age band": "SELECT sex, count(*) AS n FROM silver.population_residents "
    "WHERE province_code_2025 = '79' AND age_band = '40-44' GROUP BY sex ORDER BY sex",
}
PATHS = {
    "silver.population_residents": "silver/population/residents",
    "silver.health_insurance_cards": "silver/health/insurance_cards",
}


def _lake(root: Path, rows: int) -> None:
    rng = np.random.default_rng(6)
    pseudonyms = pa.array([f"{i:064x}" for i in range(rows)])
    ages = rng.integers(0, 95, rows)
    bands = np.array([f"{a:02d}-{a + 4:02d}" for a in range(0, 100, 5)])[np.minimum(ages // 5, 19)]
    provinces = np.array([f"{p:02d}" for p in range(1, 35)])[rng.integers(0, 34, rows)]
    residents = pa.table(
        {
            "person_pseudonym": pseudonyms,
            "age": pa.array(ages, pa.int32()),
            "age_band": pa.array(bands),
            "sex": pa.array(np.array(["male", "female"])[rng.integers(0, 2, rows)]),
            "ethnicity_code": pa.array(np.array([f"{e:02d}" for e in range(1, 55)])[rng.integers(0, 54, rows)]),
            "province_code_2025": pa.array(provinces),
        }
    )
    commit.overwrite(root / PATHS["silver.population_residents"], residents)
    insured = rng.random(rows) < 0.9
    cards = pa.table(
        {
            "person_pseudonym": pseudonyms.filter(pa.array(insured)),
            "beneficiary_group": pa.array(np.array(["GD", "HS", "HT", "DN", "NN"])[rng.integers(0, 5, insured.sum())]),
        }
    )
    commit.overwrite(root / PATHS["silver.health_insurance_cards"], cards)


def _start(var: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    (var / "passwords.json").write_text(json.dumps({MINISTRY: "bench", HOSTILE: "hostile"}))
    env = {
        **os.environ,
        "LAKEHOUSE_VAR": str(var),
        "LAKE_ROOT": str(var / "lake"),
        "LAKEHOUSE_GATEWAY_PORT": str(port),
        "LAKEHOUSE_GATEWAY_PASSWORDS_FILE": str(var / "passwords.json"),
        "LAKEHOUSE_GATEWAY_TIMEOUT_S": "5",
        "LAKEHOUSE_PSEUDONYM_KEY": "bench-only-key",
    }
    log = (var / "gateway.log").open("w")
    proc = subprocess.Popen([str(REPO_ROOT / "bin" / "lakehouse"), "gateway", "serve"], env=env, stdout=log, stderr=log)
    for _ in range(240):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.25)
    return proc, f"host=127.0.0.1 port={port} user={MINISTRY} password=bench dbname=lakehouse"


def _hostile(dsn: str, stop: threading.Event) -> Counter:
    """50 connections of another ministry sending what costs a server most; counts what happened."""
    seen: Counter = Counter()
    hostile_dsn = dsn.replace(f"user={MINISTRY} password=bench", f"user={HOSTILE} password=hostile")

    def attacker(i: int) -> None:
        try:
            conn = psycopg.connect(hostile_dsn, autocommit=True)
        except psycopg.OperationalError:
            seen["connection refused (cap)"] += 1
            return
        with conn:
            while not stop.is_set():
                try:
                    conn.execute(HOSTILE_SQL[i % len(HOSTILE_SQL)]).fetchall()
                    seen["answered"] += 1
                except psycopg.errors.InsufficientPrivilege:
                    seen["denied"] += 1
                except psycopg.errors.QueryCanceled:
                    seen["cancelled"] += 1
                except psycopg.Error as exc:
                    seen[type(exc).__name__] += 1

    threads = [threading.Thread(target=attacker, args=(i,), daemon=True) for i in range(50)]
    for t in threads:
        t.start()
    stop.wait()
    for t in threads:
        t.join(timeout=30)
    return seen


def _timed(run, sql: str) -> float:
    started = time.perf_counter()
    run(sql)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=7)
    opts = ap.parse_known_args()[0]
    var = REPO_ROOT / "var" / "bench-gateway"
    shutil.rmtree(var, ignore_errors=True)
    _lake(var / "lake", opts.rows)
    proc, dsn = _start(var)
    embedded = duckdb.connect()
    embedded.load_extension(extension_path("delta"))
    settings = Settings.from_env()  # the engine settings a ministry gets in the gateway
    embedded.execute(f"SET threads = {settings.gateway_threads}")
    embedded.execute(f"SET memory_limit = '{settings.gateway_memory_limit}'")

    def direct(sql: str, con: duckdb.DuckDBPyConnection = embedded) -> list:
        for relation, path in PATHS.items():
            sql = sql.replace(relation, f"delta_scan('{var / 'lake' / path}')")
        return con.execute(sql).fetchall()

    try:
        with psycopg.connect(dsn, autocommit=True) as conn:

            def through_gateway(sql: str) -> list:
                return conn.execute(sql).fetchall()

            ratios = []
            for name, sql in QUERIES.items():
                assert through_gateway(sql) == direct(sql), name  # same answers (and warm-up)
                gw = statistics.median(_timed(through_gateway, sql) for _ in range(opts.repeat))
                base = statistics.median(_timed(direct, sql) for _ in range(opts.repeat))
                ratios.append(gw / base)
                print(f"{name:<40} gateway {gw * 1000:7.1f} ms  embedded {base * 1000:7.1f} ms  ratio {gw / base:.2f}")

        def client(_: int) -> list[float]:
            with psycopg.connect(dsn, autocommit=True) as c:
                return [_timed(lambda s: c.execute(s).fetchall(), sql) for _ in range(3) for sql in QUERIES.values()]

        def embedded_client(_: int) -> list[float]:
            cursor = embedded.cursor()
            return [_timed(lambda s: direct(s, cursor), sql) for _ in range(3) for sql in QUERIES.values()]

        with ThreadPoolExecutor(8) as pool:
            gateway_latencies = [t for ts in pool.map(client, range(8)) for t in ts]
            embedded_latencies = [t for ts in pool.map(embedded_client, range(8)) for t in ts]
        p95 = statistics.quantiles(gateway_latencies, n=20)[-1]
        p95_embedded = statistics.quantiles(embedded_latencies, n=20)[-1]
        print(
            f"8 concurrent clients x 9 queries: p95 gateway {p95 * 1000:.0f} ms, embedded {p95_embedded * 1000:.0f} ms"
        )
        with psycopg.connect(dsn, autocommit=True) as conn:
            idle = [_timed(lambda s: conn.execute(s).fetchall(), sql) for _ in range(5) for sql in QUERIES.values()]
            stop = threading.Event()
            seen: Counter = Counter()
            attack = threading.Thread(target=lambda: seen.update(_hostile(dsn, stop)))
            attack.start()
            time.sleep(3)  # the attack is under way (connections open, checks and recursions running)
            attacked = [_timed(lambda s: conn.execute(s).fetchall(), sql) for _ in range(5) for sql in QUERIES.values()]
            stop.set()
            attack.join()
        p95_idle = statistics.quantiles(idle, n=20)[-1]
        p95_attacked = statistics.quantiles(attacked, n=20)[-1]
        print(f"hostile ministry: {dict(seen)}")
        print(f"another ministry's p95: idle {p95_idle * 1000:.0f} ms, under attack {p95_attacked * 1000:.0f} ms")
        print(f"{opts.rows:,} citizens")
        print(
            f"gateway / embedded median time ratio: {statistics.median(ratios):.2f}; "
            f"p95 with 8 clients: {p95 * 1000:.0f} ms ({p95 / p95_embedded:.2f} x embedded); "
            f"p95 under attack / idle: {p95_attacked / p95_idle:.2f}"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        shutil.rmtree(var, ignore_errors=True)


if __name__ == "__main__":
    main()
