"""Oversight of citizen-data use, tried as a ministry that would rather not be seen: for a citizen ID,
`bin/lakehouse subject access-report` lists the ministries that received rows about that person
through the gateway, whatever the key column was called or wrapped in; aggregates, and rows the
ministry's row filter hides, are not access. The log holds keys as each ministry received them (cut to
64 bits), never an ID or a silver pseudonym."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import psycopg
import pyarrow as pa
import pytest
from deltalake import write_deltalake

from gateway.audit import ACCESS_LOG
from lakehouse.core.settings import REPO_ROOT
from tests.gateway.conftest import TEST_KEY, insurance_cards, residents

HEALTH, HANOI, EDUCATION = "ministry-of-health", "hanoi-department-of-health", "ministry-of-education-and-training"
CITIZEN = "001234567890"


def _pseudonym() -> str:
    import hashlib
    import hmac

    return hmac.new(TEST_KEY.encode(), CITIZEN.encode(), hashlib.sha256).hexdigest()


@pytest.fixture(scope="module")
def oversight(tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """A gateway whose lake holds the citizen (province 79, outside Hà Nội) among others."""
    from tests.gateway.conftest import start_gateway

    var = REPO_ROOT / "var" / "gateway-oversight-test"  # a plain folder the gateway can mount
    subprocess.run(["rm", "-rf", str(var)], check=True)
    lake = var / "lake"
    people = residents(300)
    person = people.slice(0, 1).set_column(0, "person_pseudonym", pa.array([_pseudonym()]))
    person = person.set_column(
        person.schema.get_field_index("province_code_2025"), "province_code_2025", pa.array(["79"])
    )
    write_deltalake(str(lake / "silver" / "population" / "residents"), pa.concat_tables([people.slice(1), person]))
    cards = insurance_cards(200)
    cards = pa.concat_tables(
        [cards.slice(1), cards.slice(0, 1).set_column(0, "person_pseudonym", pa.array([_pseudonym()]))]
    )
    write_deltalake(str(lake / "silver" / "health" / "insurance_cards"), cards)
    passwords = {HEALTH: "h-secret", HANOI: "hn-secret", EDUCATION: "e-secret"}
    proc, port = start_gateway(var, passwords)
    yield var, {"port": port, **{k: v for k, v in passwords.items()}}  # type: ignore[misc]
    proc.terminate()
    proc.wait(timeout=10)


def _ask(oversight, ministry: str, sql: str) -> list[tuple]:
    _, info = oversight
    dsn = f"host=127.0.0.1 port={info['port']} user={ministry} password={info[ministry]} dbname=lakehouse"
    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def _report(oversight) -> str:
    var, _ = oversight
    env = {**os.environ, "LAKEHOUSE_VAR": str(var), "LAKE_ROOT": str(var / "lake"), "LAKEHOUSE_PSEUDONYM_KEY": TEST_KEY}
    done = subprocess.run(
        [str(REPO_ROOT / "bin" / "lakehouse"), "subject", "access-report"],
        env=env,
        input=CITIZEN + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def _count(report: str) -> int:
    return int(report.split(":", 1)[1].split("access(es)")[0].strip())


def test_aggregates_and_filtered_rows_are_not_access(oversight) -> None:
    _ask(oversight, HEALTH, "SELECT count(*), count(DISTINCT person_pseudonym) FROM silver.health_insurance_cards")
    _ask(oversight, HEALTH, "SELECT sex, count(*) FROM silver.population_residents GROUP BY sex")
    rows = _ask(oversight, HANOI, "SELECT person_pseudonym, age_band FROM silver.population_residents")
    assert rows  # Hà Nội's residents, not the citizen (province 79)
    assert _count(_report(oversight)) == 0


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT person_pseudonym, beneficiary_group FROM silver.health_insurance_cards",
        "SELECT person_pseudonym AS k FROM silver.health_insurance_cards WHERE card_id >= 0",
        "WITH c AS (SELECT person_pseudonym AS who FROM silver.health_insurance_cards) SELECT who AS x FROM c",
        "SELECT x FROM (SELECT person_pseudonym AS x FROM silver.population_residents) s",
        "SELECT upper(person_pseudonym) FROM silver.health_insurance_cards",
        "SELECT substr(person_pseudonym, 1, 20) AS part FROM silver.population_residents",
        "SELECT age_band FROM silver.population_residents UNION ALL "
        "SELECT person_pseudonym FROM silver.population_residents",
        "SELECT person_pseudonym, count(*) FROM silver.health_insurance_cards GROUP BY person_pseudonym",
    ],
)
def test_rows_with_the_persons_key_are_access_however_the_key_is_spelled(oversight, sql: str) -> None:
    before = _count(_report(oversight))
    _ask(oversight, HEALTH, sql)
    report = _report(oversight)
    assert _count(report) == before + 1, (sql, report)
    assert HEALTH in report.splitlines()[1]  # newest first


def test_the_access_log_holds_no_id_and_no_silver_pseudonym(oversight) -> None:
    var, _ = oversight
    text = (var / "audit" / ACCESS_LOG).read_text()
    assert text and CITIZEN not in text and _pseudonym() not in text and _pseudonym()[:16] not in text
