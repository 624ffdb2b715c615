"""One locked-down DuckDB engine per ministry.

Its views (one per granted relation: granted columns only, masks applied, row filter inside) are
written to a catalog file, which the engine then opens read-only. Lockdown, in the only order DuckDB
accepts (FINDINGS.md): load the delta extension, set temp_directory, allow only the granted tables'
folders, disable external access, lock the configuration. Views read the latest Delta version on every
query, so new versions are visible without a restart.

A second, in-memory engine per connection answers the catalog queries psql and BI tools send
(pg_catalog, information_schema), describing this ministry's relations only (catalog.py).
"""

from __future__ import annotations

import logging
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from gateway import policy
from gateway.grants import Grant, Ministry

log = logging.getLogger(__name__)


def delta_extension() -> str:
    import duckdb_extension_delta

    found = sorted(Path(duckdb_extension_delta.__file__).parent.rglob("delta.duckdb_extension"))
    if not found:
        raise RuntimeError("duckdb-extension-delta wheel has no delta.duckdb_extension; run make setup")
    return str(found[-1])


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _masked(column: str, kind: str | None) -> str:
    col = _quote(column)
    if kind == "redact":
        return f"CASE WHEN {col} IS NULL THEN NULL ELSE '***' END"
    if kind == "hash":
        return f"sha256(CAST({col} AS VARCHAR))"
    if kind == "year":
        return f"CAST(date_trunc('year', {col}) AS DATE)"
    return col


@dataclass
class Result:
    columns: list[str]
    types: list[str]  # DuckDB type names
    rows: list[tuple[Any, ...]]


class QueryError(Exception):
    """The query ran and failed (timeout, too many rows, engine error)."""

    def __init__(self, message: str, sqlstate: str = "XX000") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


class MinistryEngine:
    """The locked engine of one ministry, shared by its connections (one cursor each)."""

    def __init__(self, ministry: Ministry, lake_root: Path, work_dir: Path) -> None:
        self.ministry = ministry
        self.lake_root = lake_root
        self.grants: dict[str, Grant] = {}
        self._checked: dict[str, str | policy.Denied] = {}
        self.relations: policy.Relations = {}
        work_dir.mkdir(parents=True, exist_ok=True)
        catalog = work_dir / f"{ministry.name}.duckdb"
        self._build_catalog(catalog)
        self.db = duckdb.connect(str(catalog), read_only=True)
        self.db.load_extension(delta_extension())
        temp = work_dir / "tmp" / ministry.name
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        folders = [str(self.grants[r].lake_path(lake_root)) + "/" for r in self.relations]
        self.db.execute(f"SET temp_directory = {_literal(str(temp))}")
        self.db.execute(f"SET allowed_directories = [{', '.join(_literal(f) for f in folders)}]")
        self.db.execute("SET enable_external_access = false")
        self.db.execute("SET lock_configuration = true")
        self._lock = threading.Lock()

    def grant_sql(self, grant: Grant, columns: list[str], version: int | None = None) -> str:
        """SELECT of a grant: granted columns (masked), row filter, latest or a given Delta version."""
        path = _literal(str(grant.lake_path(self.lake_root)))
        scan = f"delta_scan({path}, version => {int(version)})" if version is not None else f"delta_scan({path})"
        select = ", ".join(f"{_masked(c, grant.mask.get(c))} AS {_quote(c)}" for c in columns)
        where = f" WHERE {grant.row_filter}" if grant.row_filter else ""
        return f"SELECT {select} FROM {scan}{where}"

    def _build_catalog(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        con = duckdb.connect(str(path))
        try:
            con.load_extension(delta_extension())
            con.execute("CREATE SCHEMA gold; CREATE SCHEMA silver")
            for grant in self.ministry.grants:
                folder = grant.lake_path(self.lake_root)
                if not (folder / "_delta_log").is_dir():
                    log.warning(
                        "%s: %s has no Delta table yet (%s); not served", self.ministry.name, grant.relation, folder
                    )
                    continue
                described = con.execute(f"DESCRIBE SELECT * FROM delta_scan({_literal(str(folder))})").fetchall()
                types = {row[0]: row[1] for row in described}
                columns = list(grant.columns or types)
                missing = [c for c in columns if c not in types]
                if missing:
                    raise RuntimeError(
                        f"grant {self.ministry.name} -> {grant.relation}: columns {missing} are not in {folder}"
                    )
                view = f"{grant.zone}.{_quote(grant.name)}"
                con.execute(f"CREATE VIEW {view} AS {self.grant_sql(grant, columns)}")
                shown = con.execute(f"DESCRIBE {view}").fetchall()
                self.grants[grant.relation] = grant
                self.relations[grant.relation] = {row[0]: row[1] for row in shown}
        finally:
            con.close()

    def versioned_sql(self, relation: str, version: int) -> str:
        return self.grant_sql(self.grants[relation], list(self.relations[relation]), version)

    def check(self, sql: str) -> str:
        """The policy's verdict, cached per statement text (grants are fixed for the engine's life)."""
        cached = self._checked.get(sql)
        if cached is None:
            try:
                cached = policy.check(sql, self.relations, self.versioned_sql)
            except policy.Denied as exc:
                cached = exc
            if len(self._checked) > 10_000:
                self._checked.clear()
            self._checked[sql] = cached
        if isinstance(cached, policy.Denied):
            raise policy.Denied(str(cached))
        return cached

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            return self.db.cursor()


def run(cursor: duckdb.DuckDBPyConnection, sql: str, params: list[Any], max_rows: int) -> Result:
    """Execute checked SQL; refuse results over max_rows rather than truncate them silently."""
    try:
        cursor.execute(sql, params or None)
        columns = [d[0] for d in cursor.description or []]
        types = [str(d[1]) for d in cursor.description or []]
        rows = cursor.fetchmany(max_rows + 1)
    except duckdb.InterruptException as exc:
        raise QueryError("query cancelled: it ran past the gateway's time limit", "57014") from exc
    except duckdb.Error as exc:
        raise QueryError(str(exc).splitlines()[0], "42000") from exc
    if len(rows) > max_rows:
        raise QueryError(
            f"result has more than {max_rows} rows, the gateway's limit: aggregate, filter or add a LIMIT", "54000"
        )
    return Result(columns, types, rows)
