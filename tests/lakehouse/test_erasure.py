"""The right to erasure, tried as an intruder who later reads every file of the lake: after a request,
the citizen's ID, name, health-insurance card number and pseudonym are in no file under the lake
(tables, their history, the transaction log, quarantine, the erasure records), an earlier version cannot
be read back, and the next ingestion (both engines) leaves the person out although the sector databases
still hold them. The person's insurance card is a row that breaks a contract rule: it sits in
quarantine, not bronze, and must leave it too (and not come back there on the next read)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import ckanapi
import pyarrow.parquet as pq
import pymysql
import pytest

from data_contracts import dataset, source_tables
from lakehouse.core import lake
from lakehouse.core.erasure_list import excluded_rows_sql, normalise, pseudonym, request, requests
from lakehouse.core.settings import REPO_ROOT, Settings
from spark_jobs.ingest import ingest_table
from spark_jobs.source import open_engine
from synthetic.sectors import _valid_people, generate_citizens, generate_enrolments, seed

SCALE, SEED = 300, 31
LAKEHOUSE = str(REPO_ROOT / "bin" / "lakehouse")
MICRODATA = "enrolment_microdata"  # the pupil's generalised record is in it


def _pupil() -> dict:
    """A pupil (citizen, insured, enrolled) whose full name no other citizen shares."""
    citizens, _ = generate_citizens(SCALE, 0.0, SEED)
    names = [c["full_name"] for c in citizens]
    enrolled = {e["citizen_id"] for e in generate_enrolments(_valid_people(citizens), 0.0, SEED)[0]}
    return next(c for c in _valid_people(citizens) if c["citizen_id"] in enrolled and names.count(c["full_name"]) == 1)


def _quarantine_card(citizen_id: str) -> str:
    """Make the person's insurance card break its contract (valid_to before valid_from) in the sector
    database, so ingestion quarantines it; the card number."""
    with (
        pymysql.connect(host="127.0.0.1", user="root", database="health", autocommit=True) as conn,
        conn.cursor() as cur,
    ):
        cur.execute("SELECT card_no FROM insurance_card WHERE citizen_id = %s", (citizen_id,))
        (card_no,) = cur.fetchone()
        cur.execute(
            "UPDATE insurance_card SET valid_to = valid_from - INTERVAL 1 DAY WHERE citizen_id = %s", (citizen_id,)
        )
    return card_no


def _files_holding(lake_root: Path, needles: dict[str, str]) -> dict[str, list[str]]:
    """{what: [files]} for every needle found in any file under the lake: Parquet decoded (data and
    checkpoints), anything else read as bytes (transaction log, statistics, records)."""
    found: dict[str, list[str]] = {}
    for path in sorted(p for p in lake_root.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            text = str(pq.read_table(path).to_pylist())
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
        for what, needle in needles.items():
            if needle in text:
                found.setdefault(what, []).append(path.relative_to(lake_root).as_posix())
    return found


def _run(args: list[str], env: dict[str, str], stdin: str | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(args, env=env, input=stdin, capture_output=True, text=True, timeout=900, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done


@pytest.fixture(scope="module")
def erased(tmp_path_factory, ckan_portal) -> tuple[Settings, dict, dict[str, str], subprocess.CompletedProcess]:
    var = tmp_path_factory.mktemp("erasure")
    settings = dataclasses.replace(Settings.from_env(), lake_root=var / "lake", var_dir=var)
    seed(settings, scale=SCALE, dirty_share=0.0, seed=SEED)
    env = {
        **os.environ,
        "LAKE_ROOT": str(settings.lake_root),
        "LAKEHOUSE_VAR": str(var),
        "CKAN_URL": ckan_portal.url,
        "CKAN_API_TOKEN": ckan_portal.token,
    }
    person = _pupil()
    card_no = _quarantine_card(person["citizen_id"])
    _run([LAKEHOUSE, "ingest"], env)
    _run([LAKEHOUSE, "ingest"], env)  # a second batch: the change logs hold the person twice
    _run([LAKEHOUSE, "transform"], env)
    _run([LAKEHOUSE, "publish", "--dataset", MICRODATA], env)
    needles = {
        "citizen ID": person["citizen_id"],
        "name": person["full_name"],
        "insurance card number": card_no,
        "pseudonym": pseudonym(person["citizen_id"]),
    }
    before = _files_holding(settings.lake_root, needles)
    assert set(before) == set(needles), before  # the search finds the person where they are
    assert any(f.startswith("silver/") for f in before["pseudonym"])
    assert all(f.startswith("quarantine/health/insurance_card/") for f in before["insurance card number"])
    # typed as a clerk might: spaces inside; read from stdin, never an argument
    spaced = " ".join(person["citizen_id"][i : i + 3] for i in range(0, 12, 3))
    done = _run([LAKEHOUSE, "erasure", "request"], env, stdin=spaced + "\n")
    return settings, person, needles, done


def test_the_person_is_in_no_file_under_the_lake(erased) -> None:
    settings, _, needles, done = erased
    assert "erasure done" in done.stdout and "bronze/population/citizen: 1 row(s) removed" in done.stdout
    assert "bronze/education/enrolment" in done.stdout and "silver/" in done.stdout
    assert "quarantine/health/insurance_card: " in done.stdout
    assert _files_holding(settings.lake_root, needles) == {}


def test_gold_is_rebuilt_and_the_changed_release_published_again(erased, ckan_portal) -> None:
    """The pupil's record leaves the k-anonymous microdata: gold changes, so it is released again."""
    settings, _, _, done = erased
    published = [line for line in done.stdout.splitlines() if MICRODATA in line and line.strip().startswith("done:")]
    assert published and "update" in published[0], done.stdout
    gold = lake.open_table(dataset(MICRODATA).gold_path(settings.lake_root))
    portal = ckanapi.RemoteCKAN(ckan_portal.url, apikey=ckan_portal.token)
    assert f"gold v{gold.version()}" in published[0]
    assert portal.action.package_show(id=MICRODATA)["state"] == "active"


def test_no_earlier_version_can_be_read_back(erased) -> None:
    settings, person, _, _ = erased
    citizen = next(t for t in source_tables() if t.qualified_name == "population.citizen")
    table = lake.open_table(citizen.bronze_path(settings.lake_root))
    assert table.history()[-1]["operation"] != "CREATE TABLE"  # the log before the rewrite is gone
    earliest = min(
        int(p.stem.split(".")[0]) for p in (citizen.bronze_path(settings.lake_root) / "_delta_log").glob("*.json")
    )
    with pytest.raises(Exception):  # noqa: B017 - any refusal: the version's log no longer exists
        lake.read_table(citizen.bronze_path(settings.lake_root), version=max(earliest - 2, 0))
    rows = lake.read_table(citizen.bronze_path(settings.lake_root))[0]
    assert person["citizen_id"] not in rows.column("citizen_id").to_pylist()


def test_the_request_keeps_no_id_and_is_recorded_once(erased) -> None:
    settings, person, _, _ = erased
    listed = requests(settings)
    assert len(listed) == 1 and listed[0].completed_at
    env = {**os.environ, "LAKE_ROOT": str(settings.lake_root), "LAKEHOUSE_VAR": str(settings.var_dir)}
    again = _run([LAKEHOUSE, "erasure", "request", "--no-publish"], env, stdin=person["citizen_id"])
    assert listed[0].request_id in again.stdout and len(requests(settings)) == 1
    status = _run([LAKEHOUSE, "erasure", "status"], env)
    assert "1 request(s)" in status.stdout and person["citizen_id"] not in status.stdout
    with pytest.raises(ValueError, match="12 digits"):
        normalise("0123")


@pytest.mark.parametrize("engine", ["duckdb", "spark"])
def test_ingestion_does_not_bring_the_person_back(erased, engine: str) -> None:
    """The sector databases still hold the person: a full re-read by either engine leaves them out."""
    settings, person, needles, _ = erased
    # in this process, as `lakehouse ingest --full-refresh` runs it (the fixture ran that command): the
    # Spark JVM is started once for the whole session, not per command
    with open_engine(dataclasses.replace(settings, ingest_engine=engine), "test-erasure") as opened:
        for table in source_tables():
            if engine == "duckdb" or table.sector == "population":
                ingest_table(opened, settings, table, full_refresh=True)
    citizen = next(t for t in source_tables() if t.qualified_name == "population.citizen")
    ids = lake.read_table(citizen.bronze_path(settings.lake_root))[0].column("citizen_id").to_pylist()
    assert len(ids) == SCALE - 1 and person["citizen_id"] not in ids
    assert _files_holding(settings.lake_root / "bronze", needles) == {}
    # the card still breaks its contract at the source: not read into quarantine either
    assert _files_holding(settings.lake_root / "quarantine", needles) == {}


def test_every_spelling_of_the_id_is_the_person(tmp_path: Path) -> None:
    """A row quarantined for its key's format can hold the ID spelled with spaces, dots or padding (a
    wider source column): the filter ingestion and the purge share matches each spelling; a number one
    digit short or one digit off is someone else (it cannot be attributed)."""
    import duckdb

    settings = dataclasses.replace(Settings.from_env(), lake_root=tmp_path / "lake", var_dir=tmp_path)
    request(settings, "001234567890")
    same = ["001234567890", "001 234 567 890", "001.234.567.890", " 001234567890\t"]
    others = ["00123456789", "001234567891", "", None]
    con = duckdb.connect()
    con.execute("CREATE TABLE t (citizen_id VARCHAR)")
    con.executemany("INSERT INTO t VALUES (?)", [[v] for v in same + others])
    matched = con.execute(f"SELECT citizen_id FROM t WHERE {excluded_rows_sql(settings, 'citizen_id', 'duckdb')}")
    assert sorted(v for (v,) in matched.fetchall()) == sorted(same)
