"""One locked-down DuckDB engine per ministry, and the one way a statement runs on it.

Its views (one per granted relation: granted columns only, masks applied, row filter inside) are
written to a catalog file (`lakehouse.duckdb`, so relations are rendered `lakehouse.<zone>.<name>`),
which the engine then opens read-only. Lockdown, in the only order DuckDB accepts: load
the delta extension, set the resource limits (memory, threads, temp size) and temp_directory, allow
only the granted tables' folders, disable external access, lock the configuration. Silver views read
the latest Delta version on every query; gold is read only as released (lakehouse/core/releases.py), and
time travel reaches released gold versions and silver versions within the contract's retention.

Person keys are re-keyed per recipient: each ministry sees HMAC(k_ministry, pseudonym), with
k_ministry = HMAC(master key, "gateway-recipient:" + ministry). Joins inside one ministry's grant
work; two ministries' extracts do not join. The key lives in a temporary macro of each cursor (process
memory), never in the catalog file or the lake. The `hash` mask is keyed the same way.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from data_contracts import source_tables
from gateway import policy
from gateway.grants import Grant, Ministry
from lakehouse.core import lake, releases
from lakehouse.core.duckdb_extensions import extension_path

log = logging.getLogger(__name__)
CATALOG = "lakehouse"
PERSON_KEY_SUFFIX = policy.PERSON_KEY_SUFFIX  # silver's person keys (HMAC pseudonyms): re-keyed per recipient
# A person key's value as it may leave: the (re-keyed) HMAC-SHA-256 hex, in either case, or its start.
PERSON_KEY_SHAPE = re.compile(r"[0-9a-f]{16,64}", re.IGNORECASE)
ACCESS_KEY_CHARS = 16  # the access log keeps 64 bits of each key a ministry received: enough to find a person
DEFAULT_RETENTION_HOURS = 168.0


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def recipient_key(master_key: str, ministry: str) -> bytes:
    """The ministry's own pseudonym key, derived from the master key: no new secret to hand out."""
    return hmac.new(master_key.encode(), f"gateway-recipient:{ministry}".encode(), hashlib.sha256).digest()


def recipient_pseudonym(key: bytes, value: str) -> str:
    """What the gateway shows a ministry for a person key (the same HMAC the engine computes in SQL)."""
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def _hmac_macro(key: bytes) -> str:
    """HMAC-SHA-256 in DuckDB SQL (no hmac function there): H(k^opad || H(k^ipad || m)), as hex."""
    block = key.ljust(64, b"\0")

    def blob(data: bytes) -> str:
        return "'" + "".join(f"\\x{b:02x}" for b in data) + "'::BLOB"

    inner = f"unhex(sha256({blob(bytes(b ^ 0x36 for b in block))} || encode(CAST(x AS VARCHAR))))"
    return (
        f"CREATE OR REPLACE TEMP MACRO recipient_hmac(x) AS sha256({blob(bytes(b ^ 0x5C for b in block))} || {inner})"
    )


def _masked(column: str, kind: str | None, raw_keys: bool = False) -> str:
    col = _quote(column)
    if column.endswith(PERSON_KEY_SUFFIX):  # re-keyed whatever the mask says (hash = the same keyed value)
        return col if raw_keys else f"recipient_hmac({col})"
    if kind == "redact":
        return f"CASE WHEN {col} IS NULL THEN NULL ELSE '***' END"
    if kind == "hash":
        return f"recipient_hmac({_literal(column + ':')} || CAST({col} AS VARCHAR))"
    if kind == "year":
        return f"CAST(date_trunc('year', {col}) AS DATE)"
    return col


class QueryError(Exception):
    """The query ran and failed (timeout, cancelled, too many rows or bytes, engine error)."""

    def __init__(self, message: str, sqlstate: str = "XX000") -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@dataclass(frozen=True)
class EngineLimits:
    """Per ministry: one ministry's queries cannot starve the others of memory, cores or disk."""

    memory_limit: str = "1GB"
    threads: int = 1
    temp_limit: str = "2GB"
    max_concurrent: int = 1  # statements of one ministry using a core at once (the rest wait their turn)
    threads_per_ministry: int = 8  # beyond that, statements queue (a suspended portal holds one thread)


class MinistryEngine:
    """The locked engine of one ministry, shared by its connections (one cursor each)."""

    def __init__(
        self,
        ministry: Ministry,
        lake_root: Path,
        work_dir: Path,
        master_key: str,
        limits: EngineLimits | None = None,
    ) -> None:
        self.ministry = ministry
        self.lake_root = lake_root
        self.limits = limits or EngineLimits()
        self.grants: dict[str, Grant] = {}
        self._checked: dict[tuple[str, tuple], policy.Checked | policy.Denied] = {}
        self.relations: policy.Relations = {}
        self._macro = _hmac_macro(recipient_key(master_key, ministry.name))
        folder = work_dir / ministry.name
        folder.mkdir(parents=True, exist_ok=True)
        catalog = folder / f"{CATALOG}.duckdb"
        self._build_catalog(catalog)
        self.db = duckdb.connect(str(catalog), read_only=True)
        self.db.load_extension(extension_path("delta"))
        temp = work_dir / "tmp" / ministry.name
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        folders = [str(self.grants[r].lake_path(lake_root)) + "/" for r in self.relations]
        self.db.execute(f"SET memory_limit = {_literal(self.limits.memory_limit)}")
        self.db.execute(f"SET threads = {int(self.limits.threads)}")
        self.db.execute(f"SET temp_directory = {_literal(str(temp))}")
        self.db.execute(f"SET max_temp_directory_size = {_literal(self.limits.temp_limit)}")
        self.db.execute(f"SET allowed_directories = [{', '.join(_literal(f) for f in folders)}]")
        self.db.execute("SET enable_external_access = false")
        self.db.execute("SET lock_configuration = true")
        self._lock = threading.Lock()
        # Checks and queries of this ministry run here, off the event loop and apart from other ministries.
        self.pool = ThreadPoolExecutor(self.limits.threads_per_ministry, thread_name_prefix=f"gw-{ministry.name}")
        # A slot is held while a statement is checked, executed or fetched, not while its rows wait for a
        # slow client: it bounds the cores a ministry uses, the pool bounds how many statements it has.
        self.slots = threading.BoundedSemaphore(self.limits.max_concurrent)
        self.retention_hours = self._retention()

    def grant_sql(self, grant: Grant, columns: list[str], version: int | None = None, raw_keys: bool = False) -> str:
        """SELECT of a grant: granted columns (masked, person keys re-keyed), row filter, a Delta version."""
        path = _literal(str(grant.lake_path(self.lake_root)))
        scan = f"delta_scan({path}, version => {int(version)})" if version is not None else f"delta_scan({path})"
        select = ", ".join(f"{_masked(c, grant.mask.get(c), raw_keys)} AS {_quote(c)}" for c in columns)
        where = f" WHERE {grant.row_filter}" if grant.row_filter else ""
        return f"SELECT {select} FROM {scan}{where}"

    def _build_catalog(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        con = duckdb.connect(str(path))
        try:
            con.load_extension(extension_path("delta"))
            con.execute(_hmac_macro(b"catalog build only"))  # views bind the cursor's own macro at query time
            # silver_keys: the same views with person keys as stored, read only by statements that merely
            # compare keys (policy: joins, count DISTINCT), never named by a client (no such relation).
            con.execute("CREATE SCHEMA gold; CREATE SCHEMA silver; CREATE SCHEMA silver_keys")
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
                if grant.zone == "silver":
                    keys_view = f"silver_keys.{_quote(grant.name)}"
                    con.execute(f"CREATE VIEW {keys_view} AS {self.grant_sql(grant, columns, raw_keys=True)}")
                shown = con.execute(f"DESCRIBE {view}").fetchall()
                self.grants[grant.relation] = grant
                self.relations[grant.relation] = {row[0]: row[1] for row in shown}
        finally:
            con.close()

    def _retention(self) -> dict[str, float]:
        """Silver time travel reaches as far back as the sector's longest source contract retention."""
        by_sector: dict[str, float] = {}
        for table in source_tables():
            hours = table.retention_hours or DEFAULT_RETENTION_HOURS
            by_sector[table.sector] = max(by_sector.get(table.sector, 0.0), hours)
        return {r: by_sector.get(r.split(".", 1)[1].split("_", 1)[0], DEFAULT_RETENTION_HOURS) for r in self.relations}

    def _released(self, relation: str) -> list[int]:
        return sorted(releases.released_versions(self.lake_root, relation.split(".", 1)[1]))

    def render(
        self, relation: str, version: int | None, alias: str, keys_compared_only: bool = False
    ) -> exp.Expression:
        """What a checked statement reads for a granted relation: the view (silver, latest), or the grant
        over an allowed Delta version (gold: released only; silver: within retention)."""
        grant = self.grants[relation]
        if grant.zone == "gold":
            released = self._released(relation)
            if version is None:
                if not released:
                    raise policy.Denied(f"relation {relation} has no release yet (gold is readable as released)")
                version = released[-1]
            elif version not in released:
                raise policy.Denied(
                    f"version {version} of {relation} was never released; released versions: "
                    f"{', '.join(map(str, released)) or 'none'}"
                )
        elif version is not None:
            self._check_retention(relation, grant, version)
        else:
            return exp.Table(
                this=exp.to_identifier(grant.name),
                db=exp.to_identifier("silver_keys" if keys_compared_only else grant.zone),
                catalog=exp.to_identifier(CATALOG),
                alias=exp.TableAlias(this=exp.to_identifier(alias)),
            )
        sql = self.grant_sql(grant, list(self.relations[relation]), version, keys_compared_only)
        return sqlglot.parse_one(sql, dialect=policy.DIALECT).subquery(alias)

    def _check_retention(self, relation: str, grant: Grant, version: int) -> None:
        hours = self.retention_hours[relation]
        try:
            history = lake.commit_times(grant.lake_path(self.lake_root))
        except Exception as exc:
            raise policy.Denied(f"{relation}: its history cannot be read") from exc
        committed = history.get(version)
        if committed is None:
            raise policy.Denied(f"{relation} has no version {version}")
        age = (datetime.now(UTC).timestamp() - committed / 1000) / 3600
        if age > hours:
            raise policy.Denied(f"version {version} of {relation} is older than its retention ({hours:g} h)")

    def _release_stamp(self) -> tuple:
        root = releases.releases_dir(self.lake_root)
        gold = [r.split(".", 1)[1] for r in self.relations if r.startswith("gold.")]
        return tuple(
            (root / f"{name}.jsonl").stat().st_mtime_ns if (root / f"{name}.jsonl").exists() else 0 for name in gold
        )

    def cached(self, sql: str) -> policy.Checked | None:
        """A verdict already reached for this statement (Denied raised again), else None."""
        cached = self._checked.get((sql, self._release_stamp()))
        if isinstance(cached, policy.Denied):
            raise policy.Denied(str(cached))
        return cached

    def check(self, sql: str, tree: exp.Expression | None = None) -> policy.Checked:
        """The policy's verdict, cached per statement text and release state (grants are fixed)."""
        key = (sql, self._release_stamp())
        cached = self._checked.get(key)
        if cached is None:
            try:
                cached = policy.check(sql, self.relations, self.render, tree)
            except policy.Denied as exc:
                cached = exc
            if len(self._checked) > 10_000:
                self._checked.clear()
            self._checked[key] = cached
        if isinstance(cached, policy.Denied):
            raise policy.Denied(str(cached))
        return cached

    def cursor(self) -> duckdb.DuckDBPyConnection:
        with self._lock:
            cursor = self.db.cursor()
        cursor.execute(self._macro)  # the recipient key, in this cursor's memory only
        return cursor

    def clean_error(self, message: str) -> str:
        """An engine error as the client may see it: no lake paths, no hints naming other columns."""
        first = message.splitlines()[0] if message else "query failed"
        for cut in ("Candidate bindings", "Did you mean", "LINE "):
            first = first.split(cut, 1)[0]
        return first.replace(str(self.lake_root), "<lake>").strip().rstrip(":") or "query failed"


class Watchdog:
    """One thread for every time limit of the process (a timer thread per query costs more than a small
    query): it cancels executions past their deadline, and keeps interrupting cancelled ones until they
    stop (an interrupt landing between two calls into DuckDB is lost)."""

    def __init__(self, tick: float = 0.05) -> None:
        self.tick = tick
        self.deadlines: dict[Execution, float] = {}
        self.cancelled: set[Execution] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._loop, name="gateway-watchdog", daemon=True).start()

    def watch(self, execution: Execution, seconds: float) -> None:
        with self._lock:
            self.deadlines[execution] = time.monotonic() + seconds

    def forget(self, execution: Execution) -> None:
        with self._lock:
            self.deadlines.pop(execution, None)
            self.cancelled.discard(execution)

    def interrupt(self, execution: Execution) -> None:
        with self._lock:
            self.cancelled.add(execution)

    def _loop(self) -> None:
        while True:
            time.sleep(self.tick)
            try:
                self._sweep()
            except Exception:  # the watchdog must outlive any one execution's trouble
                log.exception("gateway watchdog")

    def _sweep(self) -> None:
        now = time.monotonic()
        with self._lock:
            late = [e for e, at in self.deadlines.items() if at <= now]
            stopping = list(self.cancelled)
        for execution in late:
            with self._lock:
                self.deadlines.pop(execution, None)
            execution.cancel("timeout")
        for execution in stopping:
            if execution.done.is_set():
                self.forget(execution)
                continue
            try:
                execution.cursor.interrupt()
            except duckdb.Error:  # its connection is already closed: nothing left to stop
                self.forget(execution)


WATCHDOG = Watchdog()


@dataclass(frozen=True)
class RunLimits:
    timeout_s: float = 30.0
    max_rows: int = 100_000
    max_bytes: int = 64 * 1024 * 1024
    batch_rows: int = 2_000


class Execution:
    """One statement on a cursor, in a worker thread: the time limit starts when execution starts, rows
    are fetched and encoded in batches (never the whole result at once) and handed to `emit`, which
    blocks while the client is slow. `cancel()` works at any moment, before execution included."""

    def __init__(
        self,
        cursor: duckdb.DuckDBPyConnection,
        sql: str,
        params: list[Any],
        limits: RunLimits,
        slots: threading.Semaphore | None = None,
        person_columns: tuple[int, ...] = (),
    ) -> None:
        self.cursor, self.sql, self.params, self.limits = cursor, sql, params, limits
        self.person_columns = person_columns
        self.persons: set[str] = set()  # person keys the result carried (the oversight access log)
        self.slots = slots or threading.Semaphore(1)
        self.holding = False
        self.reason: str | None = None
        self.done = threading.Event()
        self.rows = 0
        self.bytes = 0

    def _note_persons(self, batch: list[tuple]) -> None:
        for i in self.person_columns:
            for row in batch:
                value = row[i]
                if isinstance(value, str) and PERSON_KEY_SHAPE.fullmatch(value):
                    self.persons.add(value[:ACCESS_KEY_CHARS].lower())

    def cancel(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        if self.done.is_set():
            return
        with contextlib.suppress(duckdb.Error):  # a closed connection has nothing left to stop
            self.cursor.interrupt()
        WATCHDOG.interrupt(self)  # again and again until run() returns

    def _hold(self) -> None:
        while not self.slots.acquire(timeout=0.1):  # waiting for a slot is not execution time
            if self.reason:
                raise self._stopped()
        self.holding = True

    def _release(self) -> None:
        if self.holding:
            self.holding = False
            self.slots.release()

    def _stopped(self) -> QueryError:
        if self.reason == "timeout":
            return QueryError(f"query cancelled after {self.limits.timeout_s:g} s, the gateway's limit", "57014")
        return QueryError(f"query cancelled ({self.reason})", "57014")

    def run(
        self,
        describe: Callable[[list[str], list[str]], Callable[[list[tuple]], list[bytes]]],
        emit: Callable[[list[bytes], int, bool], None],
        clean_error: Callable[[str], str] = str,
    ) -> int:
        """Execute; `describe(columns, types)` returns the batch encoder; `emit(encoded, rows, last)` gets
        each batch (a short last batch says the result is complete: one hand-over for a small result)."""
        try:
            if self.reason:
                raise self._stopped()
            self._hold()
            WATCHDOG.watch(self, self.limits.timeout_s)
            started = time.perf_counter()
            self.cursor.execute(self.sql, self.params or None)
            description = self.cursor.description or []
            encode = describe([d[0] for d in description], [str(d[1]) for d in description])
            while True:
                if self.reason:
                    raise self._stopped()
                batch = self.cursor.fetchmany(self.limits.batch_rows)
                if not batch:
                    self._release()
                    emit(encode([]), 0, True)
                    break
                self.rows += len(batch)
                if self.rows > self.limits.max_rows:
                    raise QueryError(
                        f"result has more than {self.limits.max_rows} rows, the gateway's limit: "
                        "aggregate, filter or add a LIMIT",
                        "54000",
                    )
                self._note_persons(batch)
                encoded = encode(batch)
                self.bytes += sum(map(len, encoded))  # one encoded message per row
                if self.bytes > self.limits.max_bytes:
                    raise QueryError(
                        f"result is larger than {self.limits.max_bytes / 1_048_576:.3g} MB, the gateway's limit: "
                        "select fewer columns or rows",
                        "54000",
                    )
                last = len(batch) < self.limits.batch_rows
                self._release()  # a slow client holds a thread, not a core
                emit(encoded, len(batch), last)
                if last:
                    break
                self._hold()
                if time.perf_counter() - started > self.limits.timeout_s:
                    self.reason = self.reason or "timeout"
            return self.rows
        except duckdb.InterruptException:
            raise self._stopped() from None
        except duckdb.Error as exc:
            if self.reason:
                raise self._stopped() from None
            raise QueryError(clean_error(str(exc)), "42000") from None
        finally:
            self._release()
            self.done.set()
            WATCHDOG.forget(self)
