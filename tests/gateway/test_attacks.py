"""The gateway tried as an intruder with a valid password would (issue: "a ministry reads only its
grant, and no client can stall the others"). Each class of hole has its reported shape and the other
shapes of it we could think of; every one is refused (or answers nothing) and leaves an audit record."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import threading
import time

import psycopg
import pytest
from psycopg import errors

from gateway.engine import recipient_key, recipient_pseudonym
from lakehouse.core.settings import REPO_ROOT
from tests.gateway.conftest import TEST_KEY

HEALTH, EDUCATION, HANOI = "ministry-of-health", "ministry-of-education-and-training", "hanoi-department-of-health"
RESIDENTS_FILES = "{lake}/silver/population/residents/*.parquet"
DELTA_LOG = "{lake}/silver/population/residents/_delta_log/00000000000000000000.json"


def _query(gateway, ministry: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(gateway.dsn(ministry), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _outcome(gateway, sql: str) -> dict:
    return [r for r in gateway.audit_lines() if r["sql"] == sql][-1]


def _denied(gateway, ministry: str, sql: str, reason: str) -> None:
    with pytest.raises(errors.InsufficientPrivilege, match=reason):
        _query(gateway, ministry, sql)
    record = _outcome(gateway, sql)
    assert record["ministry"] == ministry and record["allowed"] is False and reason in record["reason"]
    intents = [r for r in gateway.audit_lines("intent") if r["id"] == record["id"]]
    assert intents, "the intent is written before the check"


# --- CTE names must not approve tables elsewhere in the statement ---------------------------------------
SCOPE_ESCAPES = [
    # the reported shape: an outer path-like table "approved" by a CTE of that name in a subquery
    f'SELECT f.person_pseudonym, f.birth_year, f.ethnicity_code FROM "{RESIDENTS_FILES}" AS f '
    f'WHERE EXISTS (WITH "{RESIDENTS_FILES}" AS (SELECT 1 AS x) SELECT 1)',
    "SELECT sql FROM sqlite_master WHERE EXISTS (WITH sqlite_master AS (SELECT 1 AS x) SELECT 1)",
    "SELECT sql FROM duckdb_views WHERE EXISTS (WITH duckdb_views AS (SELECT 1 AS x) SELECT x FROM duckdb_views)",
    "SELECT path FROM duckdb_databases, (WITH duckdb_databases AS (SELECT 1 AS x) SELECT x FROM duckdb_databases) s",
    f'SELECT * FROM "{DELTA_LOG}" WHERE EXISTS (WITH "{DELTA_LOG}" AS (SELECT 1 AS x) SELECT 1)',
    # a CTE of a sibling subquery, of a later sibling, of itself without RECURSIVE
    "SELECT * FROM (WITH duckdb_settings AS (SELECT 1 AS x) SELECT x FROM duckdb_settings) a, duckdb_settings",
    "WITH a AS (SELECT * FROM duckdb_settings), duckdb_settings AS (SELECT 1 AS x) SELECT * FROM a",
    "WITH sqlite_master AS (SELECT * FROM sqlite_master) SELECT * FROM sqlite_master",
    # in a scalar subquery, a UNION branch, a lateral join
    "SELECT (SELECT count(*) FROM duckdb_settings), (WITH duckdb_settings AS (SELECT 1 AS x) SELECT 1)",
    "WITH t AS (SELECT 1 AS x) SELECT x FROM t UNION ALL SELECT 1 FROM duckdb_tables",
    "SELECT * FROM silver.population_residents r, LATERAL (SELECT * FROM duckdb_tables) d",
]


@pytest.mark.parametrize("sql", SCOPE_ESCAPES)
def test_cte_names_approve_nothing_outside_their_scope(gateway, sql) -> None:
    sql = sql.format(lake=gateway.lake)
    with pytest.raises(errors.InsufficientPrivilege) as refused:
        _query(gateway, HANOI, sql)
    assert "not granted" in str(refused.value) or "plain name" in str(refused.value)
    assert _outcome(gateway, sql)["allowed"] is False


PATHS_AND_SYSTEM = [
    (f'SELECT * FROM "{RESIDENTS_FILES}"', "plain name"),
    (f"SELECT * FROM '{RESIDENTS_FILES}'", "plain name"),
    (f'WITH "{RESIDENTS_FILES}" AS (SELECT 1 AS x) SELECT x FROM "{RESIDENTS_FILES}"', "plain name"),
    ('SELECT 1 AS x FROM silver.population_residents AS "a/b.parquet"', "plain name"),
    ("SELECT * FROM lakehouse.silver.population_residents", "not granted"),
    ("SELECT * FROM main.silver.population_residents", "not granted"),
    ("SELECT * FROM population_residents", "not granted"),
    ("SELECT * FROM duckdb_tables()", "not allowed"),
    ("SELECT * FROM query_table('silver.population_residents')", "not allowed"),
    ("SELECT * FROM silver.population_residents r, LATERAL query('SELECT 1')", "not allowed"),
    ("SELECT * FROM table_at_version('silver.population_residents', '1')", "version number"),
]


@pytest.mark.parametrize(("sql", "reason"), PATHS_AND_SYSTEM)
def test_paths_qualified_names_and_system_tables_are_refused(gateway, sql, reason) -> None:
    _denied(gateway, HANOI, sql.format(lake=gateway.lake), reason)


def test_granted_ctes_and_subqueries_still_work(gateway) -> None:
    sql = (
        "WITH a AS (SELECT age_band FROM silver.population_residents), "
        "b AS (SELECT age_band, count(*) AS n FROM a GROUP BY 1) "
        "SELECT sum(n) FROM b WHERE EXISTS (WITH a AS (SELECT 1 AS x) SELECT x FROM a)"
    )
    expected = gateway.direct().execute(
        f"SELECT count(*) FROM delta_scan('{gateway.lake}/silver/population/residents') WHERE province_code_2025 = '01'"
    )
    assert [tuple(int(v) for v in r) for r in _query(gateway, HANOI, sql)] == expected.fetchall()
    recursive = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) SELECT sum(n) FROM r"
    assert _query(gateway, HANOI, recursive) == [(15,)]


# --- the catalog shim --------------------------------------------------------------------------------------
def test_catalog_routing_follows_the_statement_not_its_comments(gateway) -> None:
    _denied(gateway, HANOI, "/* pg_class */ SELECT ethnicity_code FROM silver.population_residents", "not granted")
    _denied(
        gateway, HANOI, "SELECT 'pg_catalog.pg_class' AS x, birth_year FROM silver.population_residents", "not granted"
    )
    _denied(
        gateway, HANOI, "SELECT * FROM pg_catalog.pg_class, silver.population_residents", "catalog queries read only"
    )


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT * FROM pg_catalog.pg_class, LATERAL duckdb_settings()",
        "SELECT * FROM pg_catalog.pg_class c, LATERAL query('SELECT * FROM duckdb_settings()') q",
        "SELECT * FROM pg_catalog.pg_namespace, read_text('/etc/passwd')",
        "SELECT name, value FROM duckdb_settings(), pg_catalog.pg_namespace",
    ],
)
def test_catalog_table_functions_answer_nothing(gateway, sql) -> None:
    assert _query(gateway, HANOI, sql) == []


def test_current_setting_answers_from_the_shim_only(gateway) -> None:
    for name in ("temp_directory", "memory_limit", "allowed_directories", "home_directory"):
        assert _query(gateway, HANOI, f"SELECT current_setting('{name}')") == [(None,)]
    assert _query(gateway, HANOI, "SELECT current_setting('server_version')") == [("16.0",)]
    assert str(gateway.lake) not in str(_query(gateway, HANOI, "SELECT version(), current_database()"))


def test_catalog_queries_have_the_time_limit_and_the_row_cap(gateway) -> None:
    with pytest.raises(errors.QueryCanceled, match="cancelled"):
        _query(
            gateway,
            HANOI,
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
            "SELECT count(*) FROM r, pg_catalog.pg_class",
        )
    with pytest.raises(errors.ProgramLimitExceeded, match="more than 5000 rows"):
        _query(
            gateway,
            HANOI,
            "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 20000) "
            "SELECT n FROM r, pg_catalog.pg_namespace",
        )


# --- denial of service -------------------------------------------------------------------------------------
def test_huge_or_deep_nesting_and_long_statements_are_refused_fast_and_audited(gateway) -> None:
    huge_or = "SELECT count(*) FROM silver.population_residents WHERE " + " OR ".join(
        f"age_band = '{i}'" for i in range(8000)
    )
    deep = "SELECT " + "(" * 3000 + "1" + ")" * 3000 + " AS x"
    long = "SELECT 1 AS x -- " + "x" * 200_000
    with psycopg.connect(gateway.dsn(HANOI), autocommit=True) as conn:
        for sql in (huge_or, deep, long):
            with pytest.raises(errors.InsufficientPrivilege, match=r"too (complex|long)"):
                conn.execute(sql)
            assert _outcome(gateway, sql[:20_000] if len(sql) > 20_000 else sql)["allowed"] is False
        assert conn.execute("SELECT 1 AS x").fetchall() == [(1,)]  # the session survives


def test_an_exploding_query_does_not_stall_another_ministry(gateway) -> None:
    done: list[str] = []

    def hostile() -> None:
        with pytest.raises(errors.QueryCanceled):
            _query(
                gateway,
                HANOI,
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) "
                "SELECT count(*) FROM r, silver.population_residents",
            )
        done.append("hostile")

    threads = [threading.Thread(target=hostile) for _ in range(3)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    answer = _query(gateway, EDUCATION, "SELECT count(*) FROM silver.education_enrolments")
    done.append("education")
    for t in threads:
        t.join()
    assert answer == [(1200,)] and done[0] == "education"  # answered while all three still ran


def test_cancel_request_and_disconnect_stop_the_running_query(gateway) -> None:
    slow = (
        "SELECT count(*) FROM silver.population_residents a, silver.population_residents b, "
        "silver.population_residents c WHERE a.age_band || b.sex < c.province_code_2025"
    )
    with psycopg.connect(gateway.dsn(HEALTH), autocommit=True) as conn:
        threading.Timer(0.5, conn.cancel).start()
        with pytest.raises(errors.QueryCanceled, match="cancelled by the client"):
            conn.execute(slow)
        assert conn.execute("SELECT 1 AS x").fetchall() == [(1,)]
    marker = f"{slow} -- disconnect {time.time()}"
    env = {**os.environ, "PGPASSWORD": gateway.passwords[HEALTH]}
    dsn = f"host={gateway.host} port={gateway.port} user={HEALTH} dbname=lakehouse"
    client = subprocess.Popen(["psql", dsn, "-X", "-c", marker], env=env)
    time.sleep(1.0)
    client.kill()
    client.wait()
    for _ in range(100):
        records = [r for r in gateway.audit_lines() if r["sql"] == marker]
        if records:
            break
        time.sleep(0.05)
    assert records and "client disconnected" in records[-1]["reason"]


def _raw(gateway, payload: bytes, wait: float = 10.0) -> bytes:
    with socket.create_connection((gateway.host, gateway.port), timeout=wait) as s:
        s.sendall(payload)
        got = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return got
            got += chunk


def test_oversized_startup_packets_are_refused_before_buffering(gateway) -> None:
    claim = struct.pack("!ii", 1 << 30, 196608) + b"user\0" + b"x" * 1000
    answer = _raw(gateway, claim)
    assert answer[:1] == b"E" and b"refused" in answer
    huge_user = b"user\0" + b"x" * 50_000 + b"\0\0"
    answer = _raw(gateway, struct.pack("!ii", 8 + len(huge_user), 196608) + huge_user)
    assert answer[:1] == b"E"


def test_limits_per_ministry_auth_timeout_and_login_throttling(gateway, launch_gateway) -> None:
    var = REPO_ROOT / "var" / "gateway-test-limits"
    shutil.rmtree(var, ignore_errors=True)
    shutil.copytree(gateway.lake, var / "lake")
    extra = {"LAKEHOUSE_GATEWAY_MAX_CONNECTIONS": "2", "LAKEHOUSE_GATEWAY_AUTH_TIMEOUT_S": "1"}
    port = launch_gateway(var, {HEALTH: "limits-secret", EDUCATION: "edu-secret"}, extra)
    dsn = f"host=127.0.0.1 port={port} dbname=lakehouse"
    with (
        psycopg.connect(f"{dsn} user={HEALTH} password=limits-secret"),
        psycopg.connect(f"{dsn} user={HEALTH} password=limits-secret"),
    ):
        with pytest.raises(psycopg.OperationalError, match="already has 2 connections"):
            psycopg.connect(f"{dsn} user={HEALTH} password=limits-secret")
        with psycopg.connect(f"{dsn} user={EDUCATION} password=edu-secret") as other:  # another ministry: its own cap
            assert other.execute("SELECT 1 AS x").fetchall() == [(1,)]
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:  # says nothing
        assert b"authentication timed out" in idle.recv(4096)
    for _ in range(5):
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(f"{dsn} user={HEALTH} password=guess")
    with pytest.raises(psycopg.OperationalError, match="too many failed logins"):
        psycopg.connect(f"{dsn} user={HEALTH} password=limits-secret")  # even the right one, for a while


def test_results_are_capped_in_bytes_as_well_as_rows(gateway, launch_gateway) -> None:
    var = REPO_ROOT / "var" / "gateway-test-bytes"
    shutil.rmtree(var, ignore_errors=True)
    shutil.copytree(gateway.lake, var / "lake")
    port = launch_gateway(var, {HEALTH: "bytes-secret"}, {"LAKEHOUSE_GATEWAY_MAX_RESULT_MB": "0.05"})
    with psycopg.connect(f"host=127.0.0.1 port={port} user={HEALTH} password=bytes-secret dbname=lakehouse") as conn:
        with pytest.raises(errors.ProgramLimitExceeded, match=r"larger than 0\.05 MB"):
            conn.execute("SELECT person_pseudonym FROM silver.population_residents").fetchall()  # ~150 kB
        conn.rollback()
        assert len(conn.execute("SELECT person_pseudonym FROM silver.population_residents LIMIT 100").fetchall()) == 100


def test_prepared_statements_are_bounded_per_session(gateway) -> None:
    with psycopg.connect(gateway.dsn(EDUCATION), autocommit=True) as conn:
        conn.prepared_max = 1000
        conn.prepare_threshold = 0
        with pytest.raises(errors.ConfigurationLimitExceeded, match="prepared statements"):
            for i in range(120):
                conn.execute(f"SELECT {i} AS x").fetchall()
    assert _query(gateway, EDUCATION, "SELECT 1 AS x") == [(1,)]


# --- audit ---------------------------------------------------------------------------------------------------
def test_describe_is_checked_and_audited(gateway) -> None:
    with psycopg.connect(gateway.dsn(HANOI), autocommit=True) as conn:
        hidden = b"SELECT ethnicity_code FROM silver.population_residents"
        assert conn.pgconn.prepare(b"probe", hidden).status == psycopg.pq.ExecStatus.COMMAND_OK
        described = conn.pgconn.describe_prepared(b"probe")
        assert described.status == psycopg.pq.ExecStatus.FATAL_ERROR
        assert b"not granted" in described.error_message and b"ethnicity" in described.error_message
        ok = b"SELECT age_band, count(*) AS n FROM silver.population_residents GROUP BY 1"
        conn.pgconn.prepare(b"fine", ok)
        assert conn.pgconn.describe_prepared(b"fine").nfields == 2
    records = {r["sql"]: r for r in gateway.audit_lines() if r.get("kind") == "describe"}
    assert records[hidden.decode()]["allowed"] is False and records[ok.decode()]["allowed"] is True


def test_client_chosen_names_are_escaped_in_the_log_and_in_print(gateway) -> None:
    evil = 'evil\x1b[2J\u202e\n{"allowed": true}'
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(host=gateway.host, port=gateway.port, user=evil, password="x", dbname="lakehouse")
    raw = gateway.audit.read_text(encoding="utf-8")
    assert "\x1b" not in raw and "\u202e" not in raw
    assert all(line.startswith("{") for line in raw.splitlines())  # no forged line
    printed = gateway.audit_cli("--denied")
    assert "evil" in printed and "\x1b" not in printed and "\u202e" not in printed


# --- pseudonyms per recipient, gold as released -----------------------------------------------------------
def test_each_ministry_sees_its_own_pseudonyms(gateway) -> None:
    raw = {
        r[0]
        for r in gateway.direct()
        .execute(f"SELECT person_pseudonym FROM delta_scan('{gateway.lake}/silver/population/residents')")
        .fetchall()
    }
    health = {r[0] for r in _query(gateway, HEALTH, "SELECT person_pseudonym FROM silver.population_residents")}
    education = {r[0] for r in _query(gateway, EDUCATION, "SELECT person_pseudonym FROM silver.education_enrolments")}
    assert health == {recipient_pseudonym(recipient_key(TEST_KEY, HEALTH), p) for p in raw}
    assert not health & raw and not health & education  # the same people, unlinkable across ministries
    joined = _query(
        gateway,
        HEALTH,
        "SELECT count(*) FROM silver.population_residents r JOIN silver.health_insurance_cards c USING "
        "(person_pseudonym)",
    )
    assert joined == [(1500,)]  # inside one ministry's grant the keys still join


def test_gold_is_read_and_time_travelled_only_as_released(gateway) -> None:
    released = gateway.direct().execute(
        f"SELECT sum(population) FROM delta_scan('{gateway.lake}/gold/population_by_province_age_sex', version => 0)"
    )
    expected = released.fetchall()
    assert _query(gateway, EDUCATION, "SELECT sum(population) FROM gold.population_by_province_age_sex") == expected
    at_zero = "SELECT sum(population) FROM table_at_version('gold.population_by_province_age_sex', 0)"
    assert _query(gateway, EDUCATION, at_zero) == expected
    for version in (1, 7):
        _denied(
            gateway,
            EDUCATION,
            f"SELECT count(*) FROM table_at_version('gold.population_by_province_age_sex', {version})",
            "never released",
        )
    _denied(gateway, HEALTH, "SELECT count(*) FROM table_at_version('silver.population_residents', 99)", "no version")


def test_suspended_portals_stream_and_are_bounded(gateway) -> None:
    from tests.gateway.conftest import WireClient

    wire = WireClient(gateway.port, HEALTH, gateway.passwords[HEALTH])
    m = wire.m
    try:
        wire.send(m.Query(query_string="BEGIN"))
        wire.until(m.ReadyForQuery)
        big = "SELECT person_pseudonym FROM silver.population_residents"
        wire.send(m.Parse(statement="big", query=big), m.Bind(portal="p1", statement="big"), m.Execute("p1", 100))
        wire.send(m.Sync())
        first = wire.until(m.ReadyForQuery)
        assert sum(isinstance(x, m.DataRow) for x in first) == 100 and any(
            isinstance(x, m.PortalSuspended) for x in first
        )
        # while p1 is suspended, the same session (and ministry) still answers other statements
        wire.send(m.Query(query_string="SELECT count(*) FROM silver.health_insurance_cards"))
        other = wire.until(m.ReadyForQuery)
        assert [bytes(x.columns[0]) for x in other if isinstance(x, m.DataRow)] == [b"1500"]
        wire.send(m.Execute("p1", 0), m.Sync())
        rest = wire.until(m.ReadyForQuery)
        total = (
            gateway.direct()
            .execute(f"SELECT count(*) FROM delta_scan('{gateway.lake}/silver/population/residents')")
            .fetchone()[0]
        )
        assert sum(isinstance(x, m.DataRow) for x in rest) == total - 100
        for i in range(25):  # open portals are bounded per session
            wire.send(m.Bind(portal=f"q{i}", statement="big"))
        wire.send(m.Sync())
        errors_seen = [x for x in wire.until(m.ReadyForQuery) if isinstance(x, m.ErrorResponse)]
        assert errors_seen and "open portals" in errors_seen[0].fields["M"]
    finally:
        wire.close()


def test_statements_that_only_compare_person_keys_answer_as_rekeyed_ones(gateway) -> None:
    """Joins and count(DISTINCT) over person keys skip the per-row re-keying (a bijection): same answers
    as the re-keyed path, forced here by a function on the keys; raw keys never come out either way."""
    fast = (
        "SELECT r.province_code_2025, count(*) AS n, count(DISTINCT c.person_pseudonym) AS d "
        "FROM silver.population_residents r JOIN silver.health_insurance_cards c USING (person_pseudonym) "
        "GROUP BY 1 ORDER BY 1"
    )
    slow = fast.replace("USING (person_pseudonym)", "ON lower(r.person_pseudonym) = lower(c.person_pseudonym)")
    slow = slow.replace("count(DISTINCT c.person_pseudonym)", "count(DISTINCT lower(c.person_pseudonym))")
    assert _query(gateway, HEALTH, fast) == _query(gateway, HEALTH, slow) != []
    raw = {
        r[0]
        for r in gateway.direct()
        .execute(f"SELECT person_pseudonym FROM delta_scan('{gateway.lake}/silver/population/residents')")
        .fetchall()
    }
    shown = _query(
        gateway,
        HEALTH,
        "SELECT r.person_pseudonym FROM silver.population_residents r "
        "JOIN silver.health_insurance_cards c ON r.person_pseudonym = c.person_pseudonym",
    )
    assert shown and not {s[0] for s in shown} & raw


def test_silver_time_travel_stays_within_the_contract_retention(gateway) -> None:
    _denied(
        gateway,
        HEALTH,
        "SELECT count(*) FROM table_at_version('silver.health_insurance_cards', 0)",
        "older than its retention",
    )
    assert _query(gateway, HEALTH, "SELECT count(*) FROM table_at_version('silver.health_insurance_cards', 1)") == [
        (1500,)
    ]
