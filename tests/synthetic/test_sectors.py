"""The synthetic sector generator: deterministic, realistic identifiers, requested dirt, real loads."""

from __future__ import annotations

import csv
from datetime import date

import psycopg
import pymysql

from data_contracts import source_tables
from lakehouse.core.settings import Settings
from synthetic.sectors import LEGACY_WARDS, TODAY, generate_citizens, seed


def test_same_seed_same_rows_different_seed_different_rows() -> None:
    a, _ = generate_citizens(200, 0.05, seed=1)
    b, _ = generate_citizens(200, 0.05, seed=1)
    c, _ = generate_citizens(200, 0.05, seed=2)
    assert a == b
    assert a != c


def test_clean_citizens_follow_the_cccd_layout_and_legacy_codes() -> None:
    rows, _ = generate_citizens(500, 0.0, seed=3)
    with LEGACY_WARDS.open(encoding="utf-8") as fh:
        wards = {(r["province_code"], r["district_code"], r["ward_code"]) for r in csv.DictReader(fh)}
    assert len({r["citizen_id"] for r in rows}) == 500
    for r in rows:
        cid, born = r["citizen_id"], r["date_of_birth"]
        assert len(cid) == 12 and cid.isdigit()
        assert cid[1:3] == r["province_code"]  # place-of-birth code = province here
        assert int(cid[3]) == (0 if born.year < 2000 else 2) + r["sex"] - 1
        assert cid[4:6] == f"{born.year % 100:02d}"
        assert (r["province_code"], r["district_code"], r["ward_code"]) in wards
        assert date(1900, 1, 1) < born < TODAY
        assert len(r["full_name"].split()) >= 3  # family, middle, given
    assert any(ch in "ăâđêôơư" for r in rows for ch in r["full_name"].lower()), "vi_VN names expected"


def test_dirty_share_produces_each_kind_of_defect() -> None:
    rows, dirty = generate_citizens(2000, 0.05, seed=4)
    assert dirty == 100
    ids = [r["citizen_id"] for r in rows]
    assert None in ids
    assert any(i is not None and len(i) != 12 for i in ids)
    assert len(ids) - len(set(ids)) > 0  # duplicates
    assert any(r["province_code"] == "99" for r in rows)
    assert any(r["sex"] not in (1, 2) for r in rows)
    assert any(r["date_of_birth"] >= TODAY or r["date_of_birth"].year < 1900 for r in rows)


def test_seed_loads_every_contracted_table() -> None:
    settings = Settings.from_env()
    report = seed(settings, scale=300, dirty_share=0.02, seed=5)
    assert set(report.rows) == {t.qualified_name for t in source_tables()}
    for table in source_tables():
        sql = f"SELECT count(*) FROM {table.table}"
        if table.server_type == "postgres":
            with psycopg.connect(f"{settings.postgres_url}/{table.database}") as conn:
                count = conn.execute(sql).fetchone()[0]
        else:
            with pymysql.connect(host="127.0.0.1", user="root", database=table.database) as conn, conn.cursor() as cur:
                cur.execute(sql)
                count = cur.fetchone()[0]
        assert count == report.rows[table.qualified_name] > 0, table.qualified_name
