"""The ministries' SQL gateway with real clients (psql, psycopg) against real Delta tables."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from gateway.audit import usage
from gateway.engine import recipient_key, recipient_pseudonym
from lakehouse.core.settings import REPO_ROOT
from tests.gateway.conftest import TEST_KEY

HEALTH, EDUCATION, HANOI = "ministry-of-health", "ministry-of-education-and-training", "hanoi-department-of-health"


def _query(gateway, ministry: str, sql: str, params: tuple = ()) -> list[tuple]:
    with psycopg.connect(gateway.dsn(ministry), autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _psql(gateway, ministry: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PGPASSWORD": gateway.passwords[ministry], "PGCONNECT_TIMEOUT": "10"}
    dsn = f"host={gateway.host} port={gateway.port} user={ministry} dbname=lakehouse"
    return subprocess.run(
        ["psql", dsn, "-X", "-v", "ON_ERROR_STOP=1", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_psql_connects_lists_and_describes_only_granted_relations(gateway) -> None:
    listed = _psql(gateway, HEALTH, "-c", r"\dt")
    assert listed.returncode == 0, listed.stderr
    assert "health_insurance_cards" in listed.stdout and "population_residents" in listed.stdout
    assert "population_by_province_age_sex" in listed.stdout and "education_enrolments" not in listed.stdout
    described = _psql(gateway, HEALTH, "-c", r"\d silver.population_residents")
    assert described.returncode == 0, described.stderr
    assert "age_band" in described.stdout and "ethnicity_code" not in described.stdout  # not granted
    counted = _psql(gateway, EDUCATION, "-At", "-c", "SELECT count(*) FROM silver.education_enrolments")
    assert counted.stdout.strip() == "1200"
    assert "education_enrolments" not in _psql(gateway, HEALTH, "-c", r"\dt").stdout


RESIDENTS, CARDS = "silver.population_residents", "silver.health_insurance_cards"
ENROLMENTS, POPULATION = "silver.education_enrolments", "gold.population_by_province_age_sex"
LAKE_PATHS = {
    RESIDENTS: "silver/population/residents",
    CARDS: "silver/health/insurance_cards",
    ENROLMENTS: "silver/education/enrolments",
    POPULATION: "gold/population_by_province_age_sex",
}
ALLOWED = [
    (HEALTH, f"SELECT age_band, sex, count(*) AS n FROM {RESIDENTS} GROUP BY 1, 2 ORDER BY 1, 2"),
    (
        HEALTH,
        f"SELECT r.province_code_2025, c.beneficiary_group, count(*) FROM {RESIDENTS} r "
        f"JOIN {CARDS} c USING (person_pseudonym) GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    (EDUCATION, f"SELECT province_code_2025, sum(population) FROM {POPULATION} GROUP BY 1 ORDER BY 1"),
    (
        EDUCATION,
        f"WITH e AS (SELECT school_level, person_pseudonym FROM {ENROLMENTS}) "
        "SELECT school_level, count(DISTINCT person_pseudonym) FROM e GROUP BY 1 ORDER BY 1",
    ),
    (HEALTH, f"SELECT sex, count(*) FROM {RESIDENTS} WHERE age_band >= '40-44' GROUP BY ALL ORDER BY sex DESC"),
]


@pytest.mark.parametrize(("ministry", "sql"), ALLOWED)
def test_allowed_queries_return_what_duckdb_returns_on_the_delta_tables(gateway, ministry, sql) -> None:
    reference = sql
    for relation, path in LAKE_PATHS.items():  # the same SQL, straight on the Delta tables (gold: as released)
        version = ", version => 0" if relation.startswith("gold.") else ""
        reference = reference.replace(relation, f"delta_scan('{gateway.lake}/{path}'{version})")
    expected = gateway.direct().execute(reference).fetchall()
    assert expected and _query(gateway, ministry, sql) == expected


def test_parameters_prepared_statements_and_transactions(gateway) -> None:
    with psycopg.connect(gateway.dsn(HEALTH)) as conn:  # not autocommit: psycopg sends BEGIN
        sql = "SELECT count(*) FROM silver.population_residents WHERE sex = %s AND province_code_2025 = %s"
        got = conn.execute(sql, ("female", "79")).fetchone()
        again = conn.execute(sql, ("female", "79"), prepare=True).fetchone()
        conn.rollback()
    expected = (
        gateway.direct()
        .execute(
            f"SELECT count(*) FROM delta_scan('{gateway.lake}/silver/population/residents') "
            "WHERE sex = 'female' AND province_code_2025 = '79'"
        )
        .fetchone()
    )
    assert got == again == expected


ESCAPES = [
    (EDUCATION, "SELECT * FROM silver.health_insurance_cards", "not granted"),
    (HEALTH, "SELECT ethnicity_code FROM silver.population_residents", "not granted"),
    (HEALTH, "SELECT * FROM bronze.population_citizen", "not granted"),
    (HEALTH, "SELECT * FROM read_parquet('{lake}/bronze/population/citizen/*.parquet')", "not allowed"),
    (HEALTH, "SELECT * FROM delta_scan('{lake}/silver/population/residents')", "not allowed"),
    (HEALTH, "ATTACH '{lake}/x.duckdb' AS x", "single SELECT"),
    (HEALTH, "COPY (SELECT * FROM silver.population_residents) TO '{lake}/out.csv'", "single SELECT"),
    (HEALTH, "SET enable_external_access = true", "single SELECT"),
    (HEALTH, "INSTALL httpfs", "single SELECT"),
    (HEALTH, "LOAD httpfs", "single SELECT"),
    (HEALTH, "SELECT 1; SELECT ethnicity_code FROM silver.population_residents", "one statement"),
    (
        HEALTH,
        "SELECT age_band FROM silver.population_residents; -- harmless\nDROP VIEW silver.population_residents",
        "one statement",
    ),
    (HEALTH, "SELECT /* age_band */ ethnicity_code -- age_band\nFROM silver.population_residents", "not granted"),
    (HEALTH, 'SELECT "ethnicity_code" FROM "silver"."population_residents"', "not granted"),
    (EDUCATION, 'SELECT * FROM "silver"."health_insurance_cards"', "not granted"),
    (EDUCATION, "WITH x AS (SELECT * FROM silver.health_insurance_cards) SELECT count(*) FROM x", "not granted"),
    (HEALTH, "SELECT count(*) FROM (SELECT * FROM bronze.population_citizen) s", "not granted"),
    (
        HEALTH,
        "SELECT age_band FROM silver.population_residents WHERE person_pseudonym IN "
        "(SELECT person_pseudonym FROM silver.education_enrolments)",
        "not granted",
    ),
    (HEALTH, "SELECT r FROM silver.population_residents r", "not granted"),
    (HEALTH, "SELECT to_json(r) FROM silver.population_residents r", "not allowed"),
    (HEALTH, "SELECT COLUMNS('.*') FROM silver.population_residents", "not allowed"),
    (HEALTH, "SELECT struct_pack(r.*) FROM silver.population_residents r", "not allowed"),
    (HEALTH, "SELECT * FROM glob('{lake}/**')", "not allowed"),
    (HEALTH, "SELECT getenv('HOME')", "not allowed"),
]


@pytest.mark.parametrize(("ministry", "sql", "reason"), ESCAPES)
def test_escape_attempts_are_denied_and_audited(gateway, ministry, sql, reason) -> None:
    sql = sql.format(lake=gateway.lake)
    with pytest.raises(errors.InsufficientPrivilege, match=reason):
        _query(gateway, ministry, sql)
    last = [r for r in gateway.audit_lines() if r["sql"] == sql][-1]
    assert last["ministry"] == ministry and last["allowed"] is False and reason in last["reason"]


JDBC_GET_TABLES = """SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,
 CASE n.nspname ~ '^pg_' OR n.nspname = 'information_schema' WHEN true THEN NULL
 WHEN false THEN CASE c.relkind WHEN 'r' THEN 'TABLE' WHEN 'p' THEN 'PARTITIONED TABLE' WHEN 'v' THEN 'VIEW'
 ELSE NULL END ELSE NULL END AS TABLE_TYPE, d.description AS REMARKS
 FROM pg_catalog.pg_namespace n, pg_catalog.pg_class c
 LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND d.objsubid = 0 and d.classoid = 'pg_class'::regclass)
 WHERE c.relnamespace = n.oid AND (false OR ( c.relkind IN ('r','p') AND n.nspname !~ '^pg_'
 AND n.nspname <> 'information_schema' ) ) ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME"""


def test_bi_tools_browse_granted_tables_the_way_jdbc_asks(gateway) -> None:
    rows = _query(gateway, EDUCATION, JDBC_GET_TABLES)  # pgJDBC's DatabaseMetaData.getTables (DBeaver, BI)
    listed = {(r[1], r[2]) for r in rows}
    assert ("silver", "education_enrolments") in listed and ("gold", "population_by_province_age_sex") in listed
    assert not any(name.startswith("health_") for _, name in listed) and {r[3] for r in rows} == {"TABLE"}
    columns = _query(
        gateway,
        EDUCATION,
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = 'silver' AND table_name = 'education_enrolments' ORDER BY ordinal_position",
    )
    assert ("enrolled_on", "date") in columns


def test_catalog_queries_see_only_the_catalog(gateway) -> None:
    for sql in (
        "SELECT * FROM read_text('/etc/passwd'), pg_catalog.pg_class",
        "SELECT name, value FROM duckdb_settings(), pg_catalog.pg_namespace",
        "SELECT * FROM pg_catalog.pg_class c, delta_scan('{lake}/silver/population/residents') r",
    ):
        assert _query(gateway, HEALTH, sql.format(lake=gateway.lake)) == []
    names = {r[0] for r in _query(gateway, EDUCATION, "SELECT relname FROM pg_catalog.pg_class")}
    assert "education_enrolments" in names and "health_insurance_cards" not in names


def test_a_denial_never_says_whether_a_hidden_relation_exists(gateway) -> None:
    with pytest.raises(errors.InsufficientPrivilege) as existing:
        _query(gateway, EDUCATION, "SELECT * FROM silver.health_insurance_cards")
    with pytest.raises(errors.InsufficientPrivilege) as missing:
        _query(gateway, EDUCATION, "SELECT * FROM silver.health_no_such_table")
    assert str(existing.value).replace("insurance_cards", "X") == str(missing.value).replace("no_such_table", "X")


def test_a_wrong_password_is_refused_and_audited(gateway) -> None:
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(gateway.dsn(HEALTH, password="wrong"))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(gateway.dsn("no-such-ministry", password="x"))
    logins = [r for r in gateway.audit_lines() if r["sql"] == "<login>"]
    assert {r["ministry"] for r in logins} >= {HEALTH, "no-such-ministry"} and not any(r["allowed"] for r in logins)


def test_masked_columns_come_back_masked(gateway) -> None:
    days = _query(
        gateway,
        EDUCATION,
        "SELECT DISTINCT extract(month FROM enrolled_on), extract(day FROM enrolled_on) "
        "FROM silver.education_enrolments",
    )
    assert days == [(1, 1)]  # dates cut to their year
    got = _query(gateway, HANOI, "SELECT person_pseudonym FROM silver.population_residents ORDER BY 1 LIMIT 3")
    raw = (
        gateway.direct()
        .execute(
            f"SELECT person_pseudonym FROM delta_scan('{gateway.lake}/silver/population/residents') "
            "WHERE province_code_2025 = '01'"
        )
        .fetchall()
    )
    key = recipient_key(TEST_KEY, HANOI)  # re-keyed for this ministry (the mask says hash: the same keyed value)
    hashed = sorted(recipient_pseudonym(key, r[0]) for r in raw)
    assert [r[0] for r in got] == hashed[:3]
    assert not {r[0] for r in raw} & {r[0] for r in got}


def test_row_filters_hold_in_aggregates_and_joins(gateway) -> None:
    by_province = _query(
        gateway, HANOI, "SELECT province_code_2025, count(*) FROM silver.population_residents GROUP BY 1"
    )
    expected = (
        gateway.direct()
        .execute(
            f"SELECT count(*) FROM delta_scan('{gateway.lake}/silver/population/residents') "
            "WHERE province_code_2025 = '01'"
        )
        .fetchone()[0]
    )
    assert by_province == [("01", expected)]
    joined = _query(
        gateway,
        HANOI,
        "SELECT DISTINCT g.province_code_2025 FROM silver.population_residents r "
        "JOIN gold.population_by_province_age_sex g ON g.age_band = r.age_band",
    )
    assert joined and len(joined) == 4  # gold is open: every province; the join did not widen silver
    self_join = _query(
        gateway,
        HANOI,
        "SELECT count(*) FROM silver.population_residents a "
        "JOIN silver.population_residents b ON a.ward_code_2025 = b.ward_code_2025 "
        "WHERE b.province_code_2025 <> '01'",
    )
    assert self_join == [(0,)]


def test_new_delta_versions_are_visible_without_restart_and_old_ones_by_version(gateway) -> None:
    before = _query(gateway, HEALTH, "SELECT count(*) FROM silver.population_residents")[0][0]
    gateway.append_residents(40, offset=100_000)
    after = _query(gateway, HEALTH, "SELECT count(*) FROM silver.population_residents")[0][0]
    assert after == before + 40
    first = _query(gateway, HEALTH, "SELECT count(*) FROM table_at_version('silver.population_residents', 0)")
    assert first == [(2000,)]
    masked_old = _query(
        gateway,
        HANOI,
        "SELECT DISTINCT province_code_2025 FROM table_at_version('silver.population_residents', 0) AS r",
    )
    assert masked_old == [("01",)]  # the grant (row filter) applies to old versions too
    with pytest.raises(errors.InsufficientPrivilege, match="not granted"):
        _query(gateway, EDUCATION, "SELECT count(*) FROM table_at_version('silver.population_residents', 0)")


def test_limits_refuse_huge_results_and_cancel_long_queries(gateway) -> None:
    with pytest.raises(errors.ProgramLimitExceeded, match="more than 5000 rows"):
        _query(gateway, HEALTH, "SELECT a.age_band FROM silver.population_residents a, silver.health_insurance_cards b")
    with pytest.raises(errors.QueryCanceled, match="cancelled"):
        _query(
            gateway,
            HEALTH,
            "SELECT count(*) FROM silver.population_residents a, silver.population_residents b, "
            "silver.population_residents c, silver.health_insurance_cards d "
            "WHERE a.age_band || b.sex || c.sex < d.beneficiary_group",
        )
    assert _query(gateway, HEALTH, "SELECT 1") == [(1,)]  # the session survives


def test_the_gateway_process_cannot_write_the_lake(gateway) -> None:
    if os.geteuid() != 0:
        pytest.skip("the read-only mount needs root; elsewhere run the gateway as a user without write access")
    mounts = Path(f"/proc/{gateway.pid}/mountinfo").read_text().splitlines()
    lake = [line.split() for line in mounts if line.split()[4] == str(gateway.lake.resolve())]
    assert lake and "ro" in lake[0][5].split(",")


def test_administrators_read_the_audit_log(gateway) -> None:
    _query(gateway, EDUCATION, "SELECT count(*) FROM silver.education_enrolments")
    out = gateway.audit_cli("--ministry", EDUCATION)
    assert "allowed" in out and "education_enrolments" in out
    denied = gateway.audit_cli("--denied")
    verdicts = re.findall(r"^\S+\s+\S+\s+(allowed|DENIED|INTERRUPTED)\s", denied, flags=re.MULTILINE)
    assert verdicts and set(verdicts) == {"DENIED"}


def test_tls_is_offered_and_then_required(gateway, launch_gateway, tmp_path) -> None:
    cert, key = tmp_path / "gateway.crt", tmp_path / "gateway.key"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    var = REPO_ROOT / "var" / "gateway-test-tls"
    shutil.rmtree(var, ignore_errors=True)
    shutil.copytree(gateway.lake, var / "lake")
    extra = {"LAKEHOUSE_GATEWAY_TLS_CERT": str(cert), "LAKEHOUSE_GATEWAY_TLS_KEY": str(key)}
    port = launch_gateway(var, {HEALTH: "tls-secret"}, extra)
    dsn = f"host=127.0.0.1 port={port} user={HEALTH} password=tls-secret dbname=lakehouse"
    with psycopg.connect(dsn + f" sslmode=verify-ca sslrootcert={cert}") as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("SELECT count(*) FROM silver.health_insurance_cards").fetchone() == (1500,)
    with pytest.raises(psycopg.OperationalError, match="requires TLS"):
        psycopg.connect(dsn + " sslmode=disable")


def test_usage_counts_the_queries_each_ministry_ran_per_relation(gateway) -> None:
    """`bin/lakehouse status` shows usage from the audit: queries that ran, per ministry and relation;
    denied statements are not usage."""
    before = {(u["ministry"], u["relation"]): u["queries"] for u in usage(gateway.audit)}
    for _ in range(3):
        _query(gateway, EDUCATION, "SELECT count(*) FROM silver.education_enrolments")
    with pytest.raises(psycopg.Error):
        _query(gateway, EDUCATION, "SELECT * FROM silver.population_residents")  # not granted: denied
    after = {(u["ministry"], u["relation"]): u for u in usage(gateway.audit)}
    ran = after[(EDUCATION, "silver.education_enrolments")]
    assert ran["queries"] == before.get((EDUCATION, "silver.education_enrolments"), 0) + 3 and ran["recent"] >= 3
    assert (EDUCATION, "silver.population_residents") not in after
    status = subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), "status"],
        env={**os.environ, "LAKEHOUSE_VAR": str(gateway.lake.parent), "LAKE_ROOT": str(gateway.lake)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert re.search(rf"{EDUCATION}\s+silver\.education_enrolments\s+{ran['queries']} ", status), status
