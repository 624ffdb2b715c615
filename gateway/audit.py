"""The gateway's audit trail: JSON lines appended to var/audit/sql.jsonl and read by administrators with
`bin/lakehouse gateway audit` (DuckDB over the JSON lines).

Every message that reaches data or the catalog is recorded twice: its *intent* before anything runs
(who, from where, what kind — query, describe, catalog, login —, the SQL) and its *outcome* after
(allowed or denied and why, rows, duration), under one id. A crash mid-query still leaves the intent;
a record without an outcome is shown as "interrupted". Client-chosen strings (user names, SQL) are
written and printed with control and formatting characters escaped, so a log line cannot forge another
line or drive the administrator's terminal.
"""

from __future__ import annotations

import itertools
import os
import threading
import unicodedata
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from lakehouse.core import jsonl

MAX_FIELD = 20_000  # characters of client text kept per record
ACCESS_LOG = "person_access.jsonl"  # beside the audit log


def printable(text: Any, limit: int = MAX_FIELD, keep: str = "") -> str:
    """Client text with control / format / separator characters (ANSI escapes, bidi overrides, NUL, line
    breaks unless kept) escaped as \\uXXXX, cut to `limit` characters."""
    out = []
    for ch in str(text)[:limit]:
        if ch in keep or ch == " " or unicodedata.category(ch)[0] not in "CZ":
            out.append(ch)
        else:
            out.append(f"\\u{ord(ch):04x}")
    return "".join(out)


class Audit:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = jsonl.open_log(path)  # opened before privileges are dropped
        # Which persons each ministry received rows about (keys as that ministry received them, cut to 64
        # bits; never a citizen ID): read by `bin/lakehouse subject access-report`.
        self._access = jsonl.open_log(path.with_name(ACCESS_LOG))
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._prefix = f"{os.getpid()}-{int(datetime.now(UTC).timestamp())}"

    def _write(self, line: dict[str, Any]) -> None:
        text = jsonl.encode(line)
        with self._lock:
            self._file.write(text)

    def intent(self, ministry: str, client: str, sql: str, kind: str = "query") -> str:
        """Record what is about to run; returns the id its outcome will carry."""
        record_id = f"{self._prefix}-{next(self._ids)}"
        self._write(
            {
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "id": record_id,
                "phase": "intent",
                "kind": kind,
                "ministry": printable(ministry, 200),
                "client": client,
                "sql": printable(sql, keep="\n\t"),
            }
        )
        return record_id

    def outcome(
        self,
        record_id: str,
        ministry: str,
        client: str,
        sql: str,
        allowed: bool,
        reason: str = "",
        rows: int = 0,
        duration_s: float = 0.0,
        kind: str = "query",
        relations: Iterable[str] = (),
    ) -> None:
        self._write(
            {
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "id": record_id,
                "phase": "outcome",
                "kind": kind,
                "ministry": printable(ministry, 200),
                "client": client,
                "sql": printable(sql, keep="\n\t"),
                "allowed": allowed,
                "reason": printable(reason, 2000),
                "rows": rows,
                "duration_ms": round(duration_s * 1000, 2),
                "relations": sorted(relations),  # the lake tables it read (usage per relation)
            }
        )

    def access(self, record_id: str, ministry: str, relations: Iterable[str], persons: Iterable[str]) -> None:
        text = jsonl.encode(
            {
                "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
                "id": record_id,
                "ministry": printable(ministry, 200),
                "relations": sorted(relations),
                "persons": sorted(persons),
            }
        )
        with self._lock:
            self._access.write(text)

    def record(
        self, ministry: str, client: str, sql: str, allowed: bool, reason: str = "", kind: str = "login"
    ) -> None:
        """A one-step event (a login attempt, a refused connection): intent and outcome at once."""
        self.outcome(self.intent(ministry, client, sql, kind), ministry, client, sql, allowed, reason, kind=kind)


def query(path: Path, ministry: str | None = None, denied_only: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    """The latest audit records, newest first: outcomes, and intents that never got one (interrupted)."""
    if not path.exists():
        return []
    where, params = ["true"], []
    if ministry:
        where.append("ministry = ?")
        params.append(ministry)
    if denied_only:
        where.append("allowed IS NOT NULL AND NOT allowed")
    con = duckdb.connect()
    columns = (
        "{'at': 'VARCHAR', id: 'VARCHAR', phase: 'VARCHAR', kind: 'VARCHAR', ministry: 'VARCHAR', client: 'VARCHAR', "
        "sql: 'VARCHAR', allowed: 'BOOLEAN', reason: 'VARCHAR', rows: 'BIGINT', duration_ms: 'DOUBLE'}"
    )
    source = (
        f"read_json('{str(path).replace(chr(39), chr(39) * 2)}', format = 'newline_delimited', columns = {columns})"
    )
    rows = con.execute(
        f"""
        WITH a AS (SELECT * FROM {source}),
        o AS (SELECT * FROM a WHERE coalesce(phase, 'outcome') = 'outcome'),
        i AS (SELECT * REPLACE (NULL::BOOLEAN AS allowed, 'interrupted: no outcome recorded' AS reason, 0 AS rows)
              FROM a WHERE phase = 'intent' AND NOT EXISTS (SELECT 1 FROM o WHERE o.id = a.id))
        SELECT "at", kind, ministry, client, allowed, reason, rows, duration_ms, sql FROM (
          SELECT "at", kind, ministry, client, allowed, reason, rows, duration_ms, sql FROM o
          UNION ALL
          SELECT "at", kind, ministry, client, allowed, reason, rows, duration_ms, sql FROM i)
        WHERE {" AND ".join(where)} ORDER BY "at" DESC LIMIT {int(limit)}""",
        params,
    )
    names = [d[0] for d in rows.description]
    return [dict(zip(names, r, strict=True)) for r in rows.fetchall()]


def usage(path: Path, days: int = 30) -> list[dict[str, Any]]:
    """Queries that ran, per ministry and lake relation: all time and in the last `days` days (usage,
    shown by `bin/lakehouse status`). Denied statements and catalog lookups are not usage."""
    if not path.exists():
        return []
    source = (
        f"read_json('{str(path).replace(chr(39), chr(39) * 2)}', format = 'newline_delimited', columns = "
        "{'at': 'TIMESTAMPTZ', phase: 'VARCHAR', kind: 'VARCHAR', ministry: 'VARCHAR', allowed: 'BOOLEAN', "
        "reason: 'VARCHAR', relations: 'VARCHAR[]'})"
    )
    rows = duckdb.connect().execute(
        f"""
        SELECT ministry, relation, count(*) AS queries,
               count(*) FILTER (WHERE "at" >= now() - INTERVAL {int(days)} DAY) AS recent
        FROM (SELECT ministry, "at", unnest(relations) AS relation FROM {source}
              WHERE phase = 'outcome' AND kind = 'query' AND allowed AND coalesce(reason, '') = '')
        GROUP BY ALL ORDER BY queries DESC, ministry, relation"""
    )
    names = [d[0] for d in rows.description]
    return [dict(zip(names, r, strict=True)) for r in rows.fetchall()]


def accesses(path: Path, keys: dict[str, str]) -> list[dict[str, Any]]:
    """Each time a ministry received rows about a person: `keys` gives, per ministry, the person's key as
    that ministry receives it (cut as the access log keeps it). Newest first: when, ministry, relations."""
    log = path.with_name(ACCESS_LOG)
    if not log.exists() or not keys:
        return []
    wanted = ", ".join(f"('{m.replace(chr(39), chr(39) * 2)}', '{k}')" for m, k in keys.items())
    source = (
        f"read_json('{str(log).replace(chr(39), chr(39) * 2)}', format = 'newline_delimited', columns = "
        "{'at': 'TIMESTAMPTZ', id: 'VARCHAR', ministry: 'VARCHAR', relations: 'VARCHAR[]', persons: 'VARCHAR[]'})"
    )
    rows = duckdb.connect().execute(
        f"""
        SELECT a."at", a.ministry, a.relations, a.id FROM {source} a
        JOIN (VALUES {wanted}) w(ministry, person) ON a.ministry = w.ministry AND list_contains(a.persons, w.person)
        ORDER BY a."at" DESC"""
    )
    names = [d[0] for d in rows.description]
    return [dict(zip(names, r, strict=True)) for r in rows.fetchall()]
