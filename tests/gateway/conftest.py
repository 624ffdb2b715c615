"""A real SQL gateway process (bin/lakehouse gateway serve) over a small lake of real Delta tables,
with its own passwords file and audit log. As root, the gateway mounts the lake read-only for itself."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from lakehouse.core import releases
from lakehouse.core.duckdb_extensions import extension_path
from lakehouse.core.settings import REPO_ROOT

PROVINCES = ["01", "79", "48", "31"]
TEST_KEY = "gateway-test-master-key"  # a fixed test key: the real one lives outside the repo


def residents(n: int, offset: int = 0) -> pa.Table:
    ids = range(offset, offset + n)
    return pa.table(
        {
            "person_pseudonym": [f"{i:064x}" for i in ids],
            "birth_year": pa.array([1950 + i % 70 for i in ids], pa.int32()),
            "age": pa.array([75 - i % 70 for i in ids], pa.int32()),
            "age_band": [f"{(75 - i % 70) // 5 * 5:02d}-{(75 - i % 70) // 5 * 5 + 4:02d}" for i in ids],
            "sex": [("male", "female")[i % 2] for i in ids],
            "ethnicity_code": [f"{1 + i % 54:02d}" for i in ids],
            "province_code_2025": [PROVINCES[i % len(PROVINCES)] for i in ids],
            "ward_code_2025": [f"{PROVINCES[i % len(PROVINCES)]}{i % 97:03d}" for i in ids],
            "batch_id": ["b1"] * n,
        }
    )


def insurance_cards(n: int) -> pa.Table:
    return pa.table(
        {
            "person_pseudonym": [f"{i:064x}" for i in range(n)],
            "card_id": pa.array(range(n), pa.int64()),
            "beneficiary_group": [("GD", "HS", "HT", "DN")[i % 4] for i in range(n)],
            "valid_from": [date(2025, 1, 1) + timedelta(days=i % 300) for i in range(n)],
            "valid_on_reference_date": [i % 5 != 0 for i in range(n)],
        }
    )


def enrolments(n: int) -> pa.Table:
    return pa.table(
        {
            "person_pseudonym": [f"{i:064x}" for i in range(n)],
            "enrolment_id": pa.array(range(n), pa.int64()),
            "school_level": [("primary", "lower_secondary", "upper_secondary")[i % 3] for i in range(n)],
            "province_code_2025": [PROVINCES[i % len(PROVINCES)] for i in range(n)],
            "enrolled_on": [date(2025, 9, 5) - timedelta(days=i % 400) for i in range(n)],
        }
    )


def population_gold() -> pa.Table:
    cells = [(p, f"{5 * a:02d}-{5 * a + 4:02d}", s) for p in PROVINCES for a in range(16) for s in ("male", "female")]
    return pa.table(
        {
            "province_code_2025": [c[0] for c in cells],
            "province_name_2025": [f"Province {c[0]}" for c in cells],
            "age_band": [c[1] for c in cells],
            "sex": [c[2] for c in cells],
            "population": pa.array([10 + i for i in range(len(cells))], pa.int64()),
            "suppressed": [False] * len(cells),
        }
    )


def _age_commit(table: Path, version: int, days: int) -> None:
    """Date a Delta commit back (its commitInfo timestamp), as if it had been written `days` ago."""
    log = table / "_delta_log" / f"{version:020d}.json"
    then = int((time.time() - days * 86400) * 1000)
    lines = []
    for line in log.read_text().splitlines():
        action = json.loads(line)
        if "commitInfo" in action:
            action["commitInfo"]["timestamp"] = then
        lines.append(json.dumps(action))
    log.write_text("\n".join(lines) + "\n")


@dataclass
class GatewayProcess:
    host: str
    port: int
    lake: Path
    passwords: dict[str, str]
    audit: Path
    pid: int

    def dsn(self, ministry: str, password: str | None = None) -> str:
        pw = self.passwords.get(ministry, "x") if password is None else password
        return f"host={self.host} port={self.port} user={ministry} password={pw} dbname=lakehouse"

    def direct(self) -> duckdb.DuckDBPyConnection:
        """DuckDB on the same Delta tables, without the gateway: the reference answers."""
        con = duckdb.connect()
        con.load_extension(extension_path("delta"))
        return con

    def append_residents(self, n: int, offset: int) -> None:
        """A new Delta version of silver.population_residents (the gateway keeps running)."""
        write_deltalake(str(self.lake / "silver" / "population" / "residents"), residents(n, offset), mode="append")

    def audit_cli(self, *args: str) -> str:
        """What `bin/lakehouse gateway audit` prints for administrators."""
        return subprocess.run(
            [str(REPO_ROOT / "bin" / "lakehouse"), "gateway", "audit", *args],
            env={**os.environ, "LAKEHOUSE_VAR": str(self.lake.parent)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    def audit_lines(self, phase: str = "outcome") -> list[dict]:
        """Audit records of one phase: every statement has an intent (before) and an outcome (after)."""
        lines = [json.loads(line) for line in self.audit.read_text().splitlines()]
        return [r for r in lines if r.get("phase") == phase]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gateway(var: Path, passwords: dict[str, str], extra_env: dict[str, str] | None = None) -> tuple:
    lake = var / "lake"
    secrets_file = var / "gateway-passwords.json"
    secrets_file.write_text(json.dumps(passwords))
    port = _free_port()
    env = {
        **os.environ,
        "LAKEHOUSE_VAR": str(var),
        "LAKE_ROOT": str(lake),
        "LAKEHOUSE_GATEWAY_PORT": str(port),
        "LAKEHOUSE_GATEWAY_PASSWORDS_FILE": str(secrets_file),
        "LAKEHOUSE_GATEWAY_TIMEOUT_S": "3",
        "LAKEHOUSE_GATEWAY_MAX_ROWS": "5000",
        "LAKEHOUSE_PSEUDONYM_KEY": TEST_KEY,
        **(extra_env or {}),
    }
    log = (var / "gateway.log").open("w")
    proc = subprocess.Popen([str(REPO_ROOT / "bin" / "lakehouse"), "gateway", "serve"], env=env, stdout=log, stderr=log)
    for _ in range(240):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if proc.poll() is not None:
                break
            time.sleep(0.25)
    proc.kill()
    raise RuntimeError(f"gateway did not start: {(var / 'gateway.log').read_text()[-3000:]}")


@pytest.fixture
def launch_gateway():
    """Start another gateway process (own folder, passwords, settings); stopped after the test."""
    started: list[subprocess.Popen] = []

    def launch(var: Path, passwords: dict[str, str], extra_env: dict[str, str]) -> int:
        proc, port = start_gateway(var, passwords, extra_env)
        started.append(proc)
        return port

    yield launch
    for proc in started:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def gateway() -> Iterator[GatewayProcess]:
    # Under the repo's var/ (not /tmp/pytest-of-root, which is private): the lake must be a plain folder.
    var = REPO_ROOT / "var" / "gateway-test"
    shutil.rmtree(var, ignore_errors=True)
    lake = var / "lake"
    write_deltalake(str(lake / "silver" / "population" / "residents"), residents(2000))
    cards = lake / "silver" / "health" / "insurance_cards"
    write_deltalake(str(cards), insurance_cards(1500))
    _age_commit(cards, 0, days=400)  # v0 is older than the health contracts' retention (30 days)
    write_deltalake(str(cards), insurance_cards(1500), mode="overwrite")
    write_deltalake(str(lake / "silver" / "education" / "enrolments"), enrolments(1200))
    write_deltalake(str(lake / "bronze" / "population" / "citizen"), residents(50))  # never granted
    gold = lake / "gold" / "population_by_province_age_sex"
    write_deltalake(str(gold), population_gold())
    releases.record(lake, "population_by_province_age_sex", 0, population_gold())  # v0 was released
    unreleased = population_gold().set_column(4, "population", pa.array([1] * 128, pa.int64()))
    write_deltalake(str(gold), unreleased, mode="overwrite")  # v1: a build that never passed the gate
    passwords = {
        "ministry-of-health": "health-secret-1",
        "ministry-of-education-and-training": "education-secret-2",
        "hanoi-department-of-health": "hanoi-secret-3",
    }
    proc, port = start_gateway(var, passwords)
    yield GatewayProcess("127.0.0.1", port, lake, passwords, var / "audit" / "sql.jsonl", proc.pid)
    proc.terminate()
    proc.wait(timeout=10)


class WireClient:
    """A bare PostgreSQL protocol client (pygwire + scramp) for what libpq cannot send: suspended
    portals (Execute with a row limit), many open portals, messages in any order."""

    def __init__(self, port: int, user: str, password: str) -> None:
        import scramp
        from pygwire import FrontendConnection
        from pygwire import messages as m

        self.m = m
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        self.conn = FrontendConnection()
        self.send(m.StartupMessage(params={"user": user, "database": "lakehouse"}))
        self.until(m.AuthenticationSASL)
        client = scramp.ScramClient(["SCRAM-SHA-256"], user, password)
        self.send(m.SASLInitialResponse(mechanism="SCRAM-SHA-256", data=client.get_client_first().encode()))
        client.set_server_first(bytes(self.until(m.AuthenticationSASLContinue)[-1].data).decode())
        self.send(m.SASLResponse(data=client.get_client_final().encode()))
        self.until(m.ReadyForQuery)

    def send(self, *msgs) -> None:
        self.sock.sendall(b"".join(self.conn.send(msg) for msg in msgs))

    def until(self, *kinds) -> list:
        """Messages up to and including the first of `kinds` (an ErrorResponse also ends the wait)."""
        got: list = []
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError(f"closed by the gateway after {got}")
            for msg in self.conn.receive(data):
                got.append(msg)
            if any(isinstance(g, kinds) for g in got):
                return got

    def close(self) -> None:
        self.sock.close()
