"""The gateway's audit trail: one JSON line per statement or login attempt (who, from where, SQL,
allowed or denied and why, rows, duration), appended to var/audit/sql.jsonl and queryable by
administrators with `bin/lakehouse gateway audit` (DuckDB over the JSON lines)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb


class Audit:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file = path.open("a", encoding="utf-8", buffering=1)  # opened before privileges are dropped
        self._lock = threading.Lock()

    def record(
        self,
        ministry: str,
        client: str,
        sql: str,
        allowed: bool,
        reason: str = "",
        rows: int = 0,
        duration_s: float = 0.0,
    ) -> None:
        line = {
            "at": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "ministry": ministry,
            "client": client,
            "sql": sql,
            "allowed": allowed,
            "reason": reason,
            "rows": rows,
            "duration_ms": round(duration_s * 1000, 2),
        }
        with self._lock:
            self._file.write(json.dumps(line, ensure_ascii=False) + "\n")


def query(path: Path, ministry: str | None = None, denied_only: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    """The latest audit records, newest first."""
    if not path.exists():
        return []
    where, params = ["true"], []
    if ministry:
        where.append("ministry = ?")
        params.append(ministry)
    if denied_only:
        where.append("NOT allowed")
    con = duckdb.connect()
    source = "read_json_auto(" + "'" + str(path).replace("'", "''") + "'" + ", format = 'newline_delimited')"
    rows = con.execute(
        'SELECT "at", ministry, client, allowed, reason, rows, duration_ms, sql FROM '
        + source
        + f' WHERE {" AND ".join(where)} ORDER BY "at" DESC LIMIT {int(limit)}',
        params,
    )
    names = [d[0] for d in rows.description]
    return [dict(zip(names, r, strict=True)) for r in rows.fetchall()]
