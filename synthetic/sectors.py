"""Synthetic sector databases for the demo and tests: deterministic, scalable, with dirty rows.

Table layouts come from the source contracts (physicalType per column), so the generator never
restates a schema: it only knows how to invent a plausible value for each column name.

- population.citizen (PostgreSQL): the registry, CCCD-layout IDs, Faker vi_VN names, PRE-2025 codes.
- health.insurance_card + hospital_visit (MariaDB), education.enrolment (PostgreSQL),
  transport.vehicle_registration + driving_licence
  (MariaDB): rows keyed by citizen ID.
- `dirty_share` of rows get a defect (NULL / malformed key, impossible date, unknown code,
  duplicate) so every quality path runs from day one.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlparse

import psycopg
import pymysql
from faker import Faker

from data_contracts import SourceTable, source_table
from lakehouse.core.settings import REPO_ROOT, Settings

LEGACY_WARDS = REPO_ROOT / "dbt_project" / "seeds" / "admin_units" / "legacy_wards.csv"
BASE_TIME = datetime(2026, 1, 1, 8, 0, 0)
TODAY = date(2026, 7, 1)  # fixed so a seed is identical whenever it runs
ICD10 = ["J06.9", "I10", "E11.9", "K29.7", "M54.5", "A09", "J18.9", "N39.0", "R50.9", "Z00.0"]
VEHICLE_TYPES = ["motorbike", "car", "truck", "bus"]
LICENCE_CLASSES = ["A1", "A1", "A1", "A", "B", "B", "C1", "C", "D"]
# Kinh is ~85% of the population; the rest spread over other groups (codes of the 54 groups).
ETHNICITY = [
    ("01", 85.3),
    ("02", 1.9),
    ("03", 1.9),
    ("04", 1.8),
    ("05", 1.5),
    ("06", 1.3),
    ("07", 1.1),
    ("08", 1.0),
    ("09", 0.9),
    ("10", 0.8),
    ("11", 0.7),
    ("12", 0.6),
    ("13", 0.5),
    ("14", 0.7),
]


@dataclass(frozen=True)
class Ward:
    province_code: str
    district_code: str
    ward_code: str


@dataclass
class SeedReport:
    rows: dict[str, int]
    dirty: dict[str, int]


def _load_wards() -> list[Ward]:
    with LEGACY_WARDS.open(encoding="utf-8") as fh:
        return [Ward(r["province_code"], r["district_code"], r["ward_code"]) for r in csv.DictReader(fh)]


def _citizen_id(rng: random.Random, province: str, born: date, sex: int) -> str:
    """CCCD layout: 3-digit place-of-birth code, century+sex digit, 2-digit birth year, 6 digits."""
    century_sex = (0 if born.year < 2000 else 2) + (sex - 1)
    return f"0{province}{century_sex}{born.year % 100:02d}{rng.randrange(10**6):06d}"


def _full_name(fake: Faker, sex: int) -> str:
    # Vietnamese order: family, middle, given. Faker's name_*() formats add honorifics ("Chị").
    given = fake.first_name_male() if sex == 1 else fake.first_name_female()
    return f"{fake.last_name()} {fake.middle_name()} {given}"


def _age(rng: random.Random) -> int:
    # Rough Vietnamese age pyramid: flat to 60, then thinning.
    return min(99, int(rng.random() * 62) if rng.random() < 0.85 else 60 + int(rng.expovariate(1 / 12)))


def generate_citizens(scale: int, dirty_share: float, seed: int) -> tuple[list[dict[str, Any]], int]:
    """Citizen rows (dicts keyed by contract column names) and how many are dirty."""
    rng = random.Random(seed)
    fake = Faker("vi_VN")
    fake.seed_instance(seed)
    wards = _load_wards()
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i in range(1, scale + 1):
        ward = rng.choice(wards)  # provinces with more wards get more people, as in reality
        sex = rng.choice((1, 2))
        born = TODAY - timedelta(days=_age(rng) * 365 + rng.randrange(365))
        cid = _citizen_id(rng, ward.province_code, born, sex)
        while cid in seen:
            cid = _citizen_id(rng, ward.province_code, born, sex)
        seen.add(cid)
        rows.append(
            {
                "registry_id": i,
                "citizen_id": cid,
                "full_name": _full_name(fake, sex),
                "date_of_birth": born,
                "sex": sex,
                "ethnicity_code": rng.choices([c for c, _ in ETHNICITY], [w for _, w in ETHNICITY])[0],
                "phone": "0" + rng.choice("3579") + f"{rng.randrange(10**8):08d}",
                "address_line": fake.street_address(),
                "province_code": ward.province_code,
                "district_code": ward.district_code,
                "ward_code": ward.ward_code,
                "updated_at": BASE_TIME + timedelta(seconds=rng.randrange(180 * 86400)),
            }
        )
    dirty = 0
    next_id = scale + 1
    for row in rng.sample(rows, int(scale * dirty_share)):
        defect = rng.choice(("null_id", "bad_id", "bad_dob", "unknown_province", "bad_sex", "duplicate"))
        dirty += 1
        if defect == "null_id":
            row["citizen_id"] = None
        elif defect == "bad_id":
            row["citizen_id"] = row["citizen_id"][:11]
        elif defect == "bad_dob":
            row["date_of_birth"] = rng.choice((date(2099, 1, 1), date(1850, 6, 15)))
        elif defect == "unknown_province":
            row["province_code"] = "99"
        elif defect == "bad_sex":
            row["sex"] = 9
        else:  # the same person registered twice; the later update is the truth
            rows.append({**row, "registry_id": next_id, "updated_at": row["updated_at"] + timedelta(days=3)})
            next_id += 1
    return rows, dirty


def _valid_people(citizens: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in citizens if c["citizen_id"] and len(c["citizen_id"]) == 12 and c["date_of_birth"] < TODAY]


def _age_on(person: dict[str, Any]) -> int:
    return (TODAY - person["date_of_birth"]).days // 365


def _beneficiary_group(age: int) -> str:
    return "TE" if age < 6 else "HS" if age < 18 else "DN" if age < 60 else "HT"


def generate_insurance_cards(people: Sequence[dict[str, Any]], dirty_share: float, seed: int) -> tuple[list[dict], int]:
    rng = random.Random(seed + 4)
    rows, dirty = [], 0
    for person in people:
        if rng.random() > 0.92:  # coverage is ~92% of the population
            continue
        valid_from = date(2026, 1, 1)
        row = {
            "card_id": len(rows) + 1,
            "card_no": f"{_beneficiary_group(_age_on(person))}4{person['province_code']}{rng.randrange(10**10):010d}",
            "citizen_id": person["citizen_id"],
            "beneficiary_group": _beneficiary_group(_age_on(person)),
            "valid_from": valid_from,
            "valid_to": date(2026, 12, 31),
            "updated_at": BASE_TIME + timedelta(seconds=rng.randrange(180 * 86400)),
        }
        if rng.random() < dirty_share:
            dirty += 1
            row["valid_to"] = date(2025, 6, 30)  # ends before it starts
        rows.append(row)
    return rows, dirty


def generate_hospital_visits(cards: Sequence[dict[str, Any]], dirty_share: float, seed: int) -> tuple[list[dict], int]:
    rng = random.Random(seed + 1)
    rows, dirty = [], 0
    for i, card in enumerate(rng.choices(cards, k=len(cards) // 2), start=1):
        visit = TODAY - timedelta(days=rng.randrange(365))
        row = {
            "visit_id": i,
            "citizen_id": card["citizen_id"],
            "card_no": card["card_no"],
            "facility_code": f"{card['card_no'][3:5]}{rng.randrange(1, 200):03d}",
            "visit_date": visit.isoformat(),
            "icd10_code": rng.choice(ICD10),
            "cost_vnd": rng.randrange(50, 5000) * 1000,
            "updated_at": BASE_TIME + timedelta(seconds=rng.randrange(180 * 86400)),
        }
        if rng.random() < dirty_share:
            dirty += 1
            row["visit_date"] = rng.choice(("31/02/2026", "2026-13-45", ""))
        rows.append(row)
    return rows, dirty


def generate_enrolments(people: Sequence[dict[str, Any]], dirty_share: float, seed: int) -> tuple[list[dict], int]:
    rng = random.Random(seed + 2)
    rows, dirty = [], 0
    for person in people:
        age = _age_on(person)
        if not 6 <= age <= 17:
            continue
        row = {
            "enrolment_id": len(rows) + 1,
            "citizen_id": person["citizen_id"],
            "school_code": f"{person['province_code']}{rng.randrange(10**6):06d}",
            "school_year": "2025-2026",
            "grade_level": age - 5,
            "enrolled_on": date(2025, 9, 5),
            "deleted_at": None,
            "updated_at": BASE_TIME + timedelta(seconds=rng.randrange(180 * 86400)),
        }
        if rng.random() < 0.02:  # withdrawn: the legacy system soft-deletes
            row["deleted_at"] = row["updated_at"]
        if rng.random() < dirty_share:
            dirty += 1
            row["grade_level"] = 15
        rows.append(row)
    return rows, dirty


def generate_driving_licences(
    people: Sequence[dict[str, Any]], dirty_share: float, seed: int
) -> tuple[list[dict], int]:
    rng = random.Random(seed + 3)
    rows, dirty = [], 0
    for person in people:
        if _age_on(person) < 18 or rng.random() > 0.4:
            continue
        issued = TODAY - timedelta(days=rng.randrange(3650))
        row = {
            "licence_id": len(rows) + 1,
            "licence_no": f"{rng.randrange(10**12):012d}",
            "citizen_id": person["citizen_id"],
            "licence_class": rng.choice(LICENCE_CLASSES),
            "issued_on": issued,
            "expires_on": issued + timedelta(days=3650),
            "updated_at": BASE_TIME + timedelta(seconds=rng.randrange(180 * 86400)),
        }
        if rng.random() < dirty_share:
            dirty += 1
            row["citizen_id"] = None
        rows.append(row)
    return rows, dirty


def generate_vehicle_registrations(
    people: Sequence[dict[str, Any]], dirty_share: float, seed: int
) -> tuple[list[dict], int]:
    rng = random.Random(seed + 5)
    rows, dirty = [], 0
    for person in people:
        if _age_on(person) < 18 or rng.random() > 0.5:
            continue
        vehicle = rng.choices(VEHICLE_TYPES, [85, 12, 2, 1])[0]
        plate = f"{rng.randrange(11, 99)}{rng.choice('ABCDEFGHK')}-{rng.randrange(100, 1000)}.{rng.randrange(100):02d}"
        row = {
            "registration_id": len(rows) + 1,
            "plate_no": plate,
            "citizen_id": person["citizen_id"],
            "vehicle_type": vehicle,
            "province_code": person["province_code"],
            "registered_on": TODAY - timedelta(days=rng.randrange(5000)),
            "updated_at": BASE_TIME + timedelta(seconds=rng.randrange(180 * 86400)),
        }
        if rng.random() < dirty_share:
            dirty += 1
            row["province_code"] = "99"
        rows.append(row)
    return rows, dirty


def _ddl(table: SourceTable) -> str:
    cols = ", ".join(f"{c.name} {c.physical_type}" for c in table.columns)
    return f"CREATE TABLE {table.table} ({cols})"


def _indexes(table: SourceTable) -> list[str]:
    """The indexes a source system has on its key and change timestamp (not unique: the registry
    enforces no key). Incremental reads and read plans rely on them, as on a real source."""
    cols = [("key", ", ".join(table.primary_key))] + (
        [("changed", table.watermark_column)] if table.watermark_column else []
    )
    return [f"CREATE INDEX {table.table}_{name} ON {table.table} ({c})" for name, c in cols if c]


def _load_postgres(settings: Settings, table: SourceTable, rows: list[dict[str, Any]]) -> None:
    base = settings.server_url("postgres")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as admin:
        if not admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (table.database,)).fetchone():
            admin.execute(f'CREATE DATABASE "{table.database}"')
    names = [c.name for c in table.columns]
    with psycopg.connect(f"{base}/{table.database}") as conn:
        conn.execute(f"DROP TABLE IF EXISTS {table.table}")
        conn.execute(_ddl(table))
        with conn.cursor().copy(f"COPY {table.table} ({', '.join(names)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[n] for n in names])
        for ddl in _indexes(table):
            conn.execute(ddl)
        # deletes carry the whole old row in the WAL: what change data capture needs without a primary key
        conn.execute(f"ALTER TABLE {table.table} REPLICA IDENTITY FULL")


def _mariadb_connect(settings: Settings, database: str | None = None) -> pymysql.Connection:
    url = urlparse(settings.server_url("mysql"))
    return pymysql.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=url.username or "root",
        password=url.password or "",
        database=database,
        charset="utf8mb4",
        autocommit=False,
    )


def _load_mariadb(settings: Settings, table: SourceTable, rows: list[dict[str, Any]]) -> None:
    with _mariadb_connect(settings) as admin, admin.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS `{table.database}` CHARACTER SET utf8mb4")
    names = [c.name for c in table.columns]
    with _mariadb_connect(settings, table.database) as conn, conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {table.table}")
        cur.execute(_ddl(table) + " CHARACTER SET utf8mb4")
        sql = f"INSERT INTO {table.table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
        for start in range(0, len(rows), 5000):
            cur.executemany(sql, [tuple(r[n] for n in names) for r in rows[start : start + 5000]])
        for ddl in _indexes(table):
            cur.execute(ddl)
        conn.commit()


def _load(settings: Settings, table: SourceTable, rows: list[dict[str, Any]]) -> None:
    if table.server_type == "postgres":
        _load_postgres(settings, table, rows)
    else:
        _load_mariadb(settings, table, rows)


def seed(settings: Settings, scale: int = 20_000, dirty_share: float = 0.02, seed: int = 42) -> SeedReport:
    """(Re)create the four sector tables with `scale` citizens; same arguments, same rows."""
    if scale < 1 or not 0 <= dirty_share < 1:
        raise ValueError("scale must be >= 1 and dirty_share in [0, 1)")
    citizens, dirty_citizens = generate_citizens(scale, dirty_share, seed)
    people = _valid_people(citizens)
    cards, dirty_cards = generate_insurance_cards(people, dirty_share, seed)
    plan = {
        source_table("population", "citizen"): (citizens, dirty_citizens),
        source_table("health", "insurance_card"): (cards, dirty_cards),
        source_table("health", "hospital_visit"): generate_hospital_visits(cards, dirty_share, seed),
        source_table("transport", "vehicle_registration"): generate_vehicle_registrations(people, dirty_share, seed),
        source_table("education", "enrolment"): generate_enrolments(people, dirty_share, seed),
        source_table("transport", "driving_licence"): generate_driving_licences(people, dirty_share, seed),
    }
    for table, (rows, _) in plan.items():
        _load(settings, table, rows)
    return SeedReport(
        rows={t.qualified_name: len(r) for t, (r, _) in plan.items()},
        dirty={t.qualified_name: d for t, (_, d) in plan.items()},
    )


_seed_all = seed


@dataclass
class ChangeReport:
    updated: int
    inserted: int
    deleted: int


def change_citizens(settings: Settings, share: float = 0.005, seed: int = 1) -> ChangeReport:
    """Simulate a day in the registry: `share` of rows updated, a tenth as many inserted and deleted.

    Changes carry an updated_at later than anything seeded, as a source system's would.
    """
    table = source_table("population", "citizen")
    rng = random.Random(seed)
    with psycopg.connect(f"{settings.server_url('postgres')}/{table.database}") as conn:
        total, max_id, max_at = conn.execute(
            f"SELECT count(*), max(registry_id), max(updated_at) FROM {table.table}"
        ).fetchone()
        n_update = max(1, int(total * share))
        n_other = max(1, n_update // 10)
        now = max_at + timedelta(days=1)
        ids = [r[0] for r in conn.execute(f"SELECT registry_id FROM {table.table} ORDER BY registry_id").fetchall()]
        picked = rng.sample(ids, n_update + n_other)
        to_update, to_delete = picked[:n_update], picked[n_update:]
        conn.execute(
            f"UPDATE {table.table} SET phone = '09' || lpad((registry_id %% 100000000)::text, 8, '0'), "
            "updated_at = %s WHERE registry_id = ANY(%s)",
            (now, to_update),
        )
        conn.execute(f"DELETE FROM {table.table} WHERE registry_id = ANY(%s)", (to_delete,))
        conn.execute(
            f"INSERT INTO {table.table} SELECT registry_id + %s, citizen_id, full_name, date_of_birth, sex, "
            "ethnicity_code, phone, address_line, province_code, district_code, ward_code, %s "
            f"FROM {table.table} WHERE registry_id = ANY(%s)",
            (max_id, now, rng.sample(sorted(set(ids) - set(picked)), n_other)),
        )
    return ChangeReport(n_update, n_other, n_other)


def seed_scaled(settings: Settings, rows: int, seed: int = 42) -> int:
    """Seed at benchmark scale quickly: generate up to 100k citizens, then copy them inside PostgreSQL
    (new registry ids and newer timestamps) until the table holds at least `rows`. Returns the count."""
    base = min(rows, 100_000)
    seed_report = _seed_all(settings, scale=base, dirty_share=0.0, seed=seed)
    count = seed_report.rows["population.citizen"]
    table = source_table("population", "citizen")
    with psycopg.connect(f"{settings.server_url('postgres')}/{table.database}", autocommit=True) as conn:
        while count < rows:
            take = min(count, rows - count)
            conn.execute(
                # new people: keep the ID's province / century / year prefix, renumber its last six digits
                f"INSERT INTO {table.table} SELECT registry_id + %s, "
                "left(citizen_id, 6) || lpad(((registry_id + %s) %% 1000000)::text, 6, '0'), full_name, "
                "date_of_birth, sex, ethnicity_code, phone, address_line, province_code, district_code, ward_code, "
                f"updated_at FROM {table.table} WHERE registry_id <= %s",
                (count, count, take),
            )
            count += take
        conn.execute(f"ANALYZE {table.table}")
    return count
