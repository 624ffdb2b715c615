"""The ministries' SQL gateway: a read-only server speaking the PostgreSQL wire protocol (pygwire codec,
SCRAM-SHA-256 by scramp, optional TLS) in front of one locked DuckDB engine per ministry.

Everything a client sends that reads something — simple and extended queries, Describe, catalog
browsing — takes one path: routed and checked from its syntax tree in the ministry's own worker pool
(off the event loop, bounded in size and complexity), audited as an intent, executed with a time
limit that starts with execution, its rows streamed in batches under row and byte caps, and audited
as an outcome. One ministry cannot stall another: engines have their own memory, thread and temp
limits; connections and concurrent queries are capped per ministry; start-up is bounded in size and
time and failed logins are throttled; CancelRequest and a disconnect stop the running query; prepared
statements and portals are bounded per session.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import secrets
import ssl
import struct
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import scramp
from pygwire import BackendConnection, TransactionStatus
from pygwire import messages as m

from gateway import pgtypes, policy
from gateway.audit import Audit, printable
from gateway.catalog import SETTINGS, Catalog
from gateway.engine import Execution, MinistryEngine, QueryError, RunLimits
from gateway.policy import Denied

log = logging.getLogger(__name__)
SCRAM = scramp.ScramMechanism("SCRAM-SHA-256")
TRANSACTION = {
    "begin": "BEGIN",
    "start transaction": "BEGIN",
    "commit": "COMMIT",
    "end": "COMMIT",
    "rollback": "ROLLBACK",
    "abort": "ROLLBACK",
}
SSL_CODE, GSS_CODE, CANCEL_CODE = 80877103, 80877104, 80877102


@dataclass
class Limits:
    timeout_s: float = 30.0
    max_rows: int = 100_000
    max_bytes: int = 64 * 1024 * 1024
    check_timeout_s: float = 5.0
    max_connections: int = 200
    max_connections_per_ministry: int = 10
    auth_timeout_s: float = 10.0
    max_startup_bytes: int = 10_000
    max_message_bytes: int = 1_048_576
    max_prepared: int = 100
    max_portals: int = 20
    failed_logins: int = 5  # per client address within login_window_s, then refused for that long
    login_window_s: float = 60.0

    def run_limits(self) -> RunLimits:
        return RunLimits(self.timeout_s, self.max_rows, self.max_bytes)


@dataclass
class Gateway:
    engines: dict[str, MinistryEngine]
    passwords: dict[str, str]
    audit: Audit
    limits: Limits = field(default_factory=Limits)
    tls: ssl.SSLContext | None = None

    def __post_init__(self) -> None:
        # SCRAM verifiers only: the passwords are not kept past start-up.
        self.verifiers = {name: SCRAM.make_auth_info(pw, iteration_count=4096) for name, pw in self.passwords.items()}
        self._decoy = SCRAM.make_auth_info(secrets.token_hex(16), iteration_count=4096)
        self.passwords = {}
        self.sessions: dict[int, Session] = {}  # by the process id given to the client (BackendKeyData)
        self.connected: Counter[str] = Counter()
        self.failures: dict[str, deque[float]] = {}
        self._pids = itertools.count(1000)

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(lambda r, w: Session(self, r, w).run(), host, port)

    def new_pid(self) -> int:
        return next(self._pids)

    def throttled(self, address: str) -> bool:
        recent = self.failures.get(address)
        now = time.monotonic()
        while recent and now - recent[0] > self.limits.login_window_s:
            recent.popleft()
        return bool(recent) and len(recent) >= self.limits.failed_logins

    def failed(self, address: str) -> None:
        self.failures.setdefault(address, deque()).append(time.monotonic())


class FrameGuard:
    """Checks each message's declared length before pygwire buffers it (it would wait for any length a
    client claims, 1 GiB included): start-up packets and pre-login messages are small, later ones are
    bounded by the statement size."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.startup = True
        self.authenticated = False
        self.header = b""
        self.remaining = 0

    def feed(self, data: bytes) -> None:
        i = 0
        while i < len(data):
            if self.remaining:
                take = min(self.remaining, len(data) - i)
                if self.startup and len(self.header) < 8:  # the start-up code decides the next framing
                    self.header += data[i : i + min(take, 8 - len(self.header))]
                i += take
                self.remaining -= take
                if not self.remaining and self.startup:
                    self._after_startup_packet()
                continue
            size = 4 if self.startup else 5
            need = size - len(self.header)
            self.header += data[i : i + need]
            i += min(need, len(data) - i)
            if len(self.header) < size:
                return
            length = struct.unpack("!i", self.header[-4:])[0]
            limit = (
                self.limits.max_startup_bytes
                if self.startup or not self.authenticated
                else self.limits.max_message_bytes
            )
            if length < 4 or length > limit:
                raise Denied(
                    f"message of {length} bytes refused (limit {limit}) before authentication"
                    if not self.authenticated
                    else f"message of {length} bytes is over the gateway's limit of {limit}"
                )
            self.remaining = length - 4
            if not self.startup:
                self.header = b""
            elif not self.remaining:
                self._after_startup_packet()

    def _after_startup_packet(self) -> None:
        code = struct.unpack("!i", self.header[4:8])[0] if len(self.header) >= 8 else 0
        self.header = b""
        if code not in (SSL_CODE, GSS_CODE, CANCEL_CODE):
            self.startup = False  # a StartupMessage: typed messages follow


@dataclass
class WirePortal:
    tag: str | None = None  # BEGIN / COMMIT / ROLLBACK …
    run: Running | None = None  # the statement bound to it, executing (rows wait until Execute)


class Running:
    """A statement executing in the ministry's pool; its batches of encoded rows arrive on a queue."""

    def __init__(
        self, session: Session, execution: Execution, cursor: Any, record: tuple[str, str, str, float], own: bool
    ) -> None:
        self.own_cursor = own  # a cursor opened for this statement alone: closed when it ends
        self.session = session
        self.execution = execution
        self.cursor = cursor
        self.record = record  # client SQL, audit id, kind, start time
        self.queue: asyncio.Queue[list[tuple[str, Any]]] = asyncio.Queue(maxsize=8)
        self.leftover: list[bytes] = []
        self.columns: list[str] | None = None
        self.types: list[str] = []
        self.finished = False
        self.error: Exception | None = None
        self.rows = 0

    def start(self, pool: Any) -> None:
        loop = asyncio.get_running_loop()
        execution = self.execution

        def put(items: list[tuple[str, Any]]) -> None:
            future = asyncio.run_coroutine_threadsafe(self.queue.put(items), loop)
            while True:
                try:
                    future.result(timeout=0.1)
                    return
                except TimeoutError:
                    if execution.reason:  # nobody reads any more (cancelled, timed out, disconnected)
                        future.cancel()
                        raise QueryError(f"query cancelled ({execution.reason})", "57014") from None

        pending: list[tuple[str, Any]] = []

        def describe(columns: list[str], types: list[str]) -> Callable[[list[tuple]], list[bytes]]:
            pending.append(("description", (columns, types)))  # sent with the first batch: one hand-over
            return row_encoder(types)

        def emit(batch: list[bytes], _rows: int, last: bool) -> None:
            items = [*pending, ("rows", batch), *([("done", None)] if last else [])]
            pending.clear()
            put(items)

        def work() -> None:
            try:
                execution.run(describe, emit, self.session.clean_error)
            except QueryError as exc:
                with contextlib.suppress(QueryError):
                    put([("error", exc)])
            except Exception as exc:
                log.exception("query failed in the gateway")
                with contextlib.suppress(QueryError):
                    put([("error", QueryError(f"internal error: {type(exc).__name__}"))])
            finally:
                if self.own_cursor:
                    with contextlib.suppress(Exception):
                        self.cursor.close()

        loop.run_in_executor(pool, work)

    async def _next(self) -> None:
        for kind, value in await self.queue.get():
            self._take(kind, value)

    async def description(self) -> tuple[list[str], list[str]]:
        """Wait for the result's columns (or the error that came first)."""
        while self.columns is None and not self.finished:
            await self._next()
        if self.error is not None and self.columns is None:
            raise self.error
        return self.columns or [], self.types

    def _take(self, kind: str, value: Any) -> None:
        if kind == "description":
            self.columns, self.types = value
        elif kind == "rows":
            self.leftover.extend(value)
        elif kind == "done":
            self.finished = True
        elif kind == "error":
            self.finished = True
            self.error = value

    async def rows_upto(self, limit: int) -> tuple[list[bytes], bool]:
        """Up to `limit` encoded rows (0 = all); True when the result is complete."""
        while not self.finished and (not limit or len(self.leftover) <= limit):
            await self._next()
            if not limit and self.error is None:  # everything: stream each batch to the client as it comes
                batch, self.leftover = self.leftover, []
                self.rows += len(batch)
                await self.session.write_rows(batch)
        if self.error is not None:
            raise self.error
        take = self.leftover if not limit else self.leftover[:limit]
        self.leftover = self.leftover[len(take) :]
        self.rows += len(take)
        return take, self.finished and not self.leftover

    def cancel(self, reason: str) -> None:
        if not self.finished:
            self.execution.cancel(reason)


def row_encoder(types: list[str]) -> Callable[[list[tuple]], list[bytes]]:
    """DataRow messages for a batch of rows, one bytes per row (framed here: one codec call per row is
    slow; one join per row is the fastest pure-Python framing measured)."""
    encoders = [pgtypes.encoder(pgtypes.oid(t)) for t in types]
    count = struct.pack("!h", len(encoders))
    null = b"\xff\xff\xff\xff"

    def encode(batch: list[tuple]) -> list[bytes]:
        out = []
        for row in batch:
            parts = [count]
            for value, enc in zip(row, encoders, strict=True):
                if value is None:
                    parts.append(null)
                else:
                    encoded = enc(value)
                    parts.append(len(encoded).to_bytes(4, "big"))
                    parts.append(encoded)
            body = b"".join(parts)
            out.append(b"D" + (len(body) + 4).to_bytes(4, "big") + body)
        return out

    return encode


class Session:
    """One client connection."""

    def __init__(self, gateway: Gateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.gw = gateway
        self.reader, self.writer = reader, writer
        self.conn = BackendConnection(strict=False)
        self.guard = FrameGuard(gateway.limits)
        self.user = ""
        self.engine: MinistryEngine | None = None
        self.cursor: Any = None
        self.catalog: Catalog | None = None
        self.scram: Any = None
        self.statements: dict[str, tuple[str, list[int]]] = {}
        self.portals: dict[str, WirePortal] = {}
        # audit id -> what the check found: the lake relations read, the result columns carrying person keys
        self.checked: dict[str, policy.Checked] = {}
        self.skip_until_sync = False
        self.tx = TransactionStatus.IDLE
        self.out = bytearray()
        self.pid = gateway.new_pid()
        self.secret = secrets.token_bytes(4)
        self.current: Running | None = None
        self.counted = False
        peer = writer.get_extra_info("peername")
        self.client = f"{peer[0]}:{peer[1]}" if peer else "?"
        self.address = peer[0] if peer else "?"

    def send(self, *msgs: m.PGMessage) -> None:
        for msg in msgs:
            self.out += self.conn.send(msg)

    async def flush(self) -> None:
        """One write per batch of client messages (a message per syscall costs more than the query)."""
        if self.out:
            self.writer.write(bytes(self.out))
            self.out.clear()
        await self.writer.drain()

    async def write_rows(self, rows: list[bytes]) -> None:
        self.out += b"".join(rows)
        if len(self.out) > 256 * 1024:
            await self.flush()

    def error(self, message: str, sqlstate: str, severity: str = "ERROR") -> None:
        self.send(m.ErrorResponse(fields={"S": severity, "V": severity, "C": sqlstate, "M": message}))

    def clean_error(self, message: str) -> str:
        return self.engine.clean_error(message) if self.engine else message.splitlines()[0]

    async def run(self) -> None:
        if len(self.gw.sessions) >= self.gw.limits.max_connections:
            self.error("too many connections to the gateway; try again later", "53300", "FATAL")
            with contextlib.suppress(ConnectionError):
                await self.flush()
            self.writer.close()
            return
        self.gw.sessions[self.pid] = self
        inbox: asyncio.Queue[m.PGMessage | None] = asyncio.Queue(maxsize=256)
        reading = asyncio.create_task(self._read(inbox))
        deadline = time.monotonic() + self.gw.limits.auth_timeout_s
        try:
            while True:
                if self.engine is None:  # not logged in yet: the whole start-up has a deadline
                    try:
                        msg = await asyncio.wait_for(inbox.get(), max(0.0, deadline - time.monotonic()))
                    except TimeoutError:
                        self.error("authentication timed out", "08006", "FATAL")
                        await self.flush()
                        return
                else:
                    msg = await inbox.get()
                if msg is None:
                    return
                if await self.on_message(msg) is False:
                    await self.flush()
                    return
                if inbox.empty():
                    await self.flush()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except Exception:  # a protocol bug must not take the server down
            log.exception("session %s (%s) failed", self.client, printable(self.user, 100))
        finally:
            reading.cancel()
            self.close_all("client disconnected")
            self.gw.sessions.pop(self.pid, None)
            if self.counted:
                self.gw.connected[self.user] -= 1
            if self.cursor is not None:
                with contextlib.suppress(Exception):
                    self.cursor.close()
            self.writer.close()

    async def _read(self, inbox: asyncio.Queue[m.PGMessage | None]) -> None:
        """Read, frame-check and decode; a disconnect cancels the running query at once."""
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                try:
                    self.guard.feed(data)
                except Denied as exc:
                    self.gw.audit.record(
                        self.user or "<unknown>", self.client, "<message>", False, str(exc), "protocol"
                    )
                    self.error(str(exc), "08P01", "FATAL")
                    await self.flush()
                    break
                for msg in self.conn.receive(data):
                    await inbox.put(msg)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception:
            log.exception("reading from %s failed", self.client)
        finally:
            if self.current is not None:
                self.current.cancel("client disconnected")
            await inbox.put(None)

    def close_all(self, reason: str) -> None:
        for portal in self.portals.values():
            if portal.run is not None:
                portal.run.cancel(reason)
        self.portals.clear()
        if self.current is not None:
            self.current.cancel(reason)

    async def on_message(self, msg: m.PGMessage) -> bool | None:
        if isinstance(msg, m.SSLRequest):
            self.send(m.SSLResponse(accepted=self.gw.tls is not None))
            await self.flush()
            if self.gw.tls is not None:
                await self.writer.start_tls(self.gw.tls)
            return None
        if isinstance(msg, m.GSSEncRequest):
            self.send(m.GSSResponse(accepted=False))
            return None
        if isinstance(msg, m.CancelRequest):
            self.on_cancel(msg)
            return False  # PostgreSQL answers a cancel connection with nothing, then closes it
        if isinstance(msg, m.StartupMessage):
            return self.on_startup(msg)
        if isinstance(msg, (m.SASLInitialResponse, m.SASLResponse, m.PasswordMessage)):
            return self.on_sasl(msg)
        if isinstance(msg, m.Terminate):
            return False
        if self.engine is None:
            self.error("not authenticated", "28000", "FATAL")
            return False
        if isinstance(msg, m.Query):
            await self.on_query(msg.query_string)
            return None
        if isinstance(msg, m.Sync):
            self.skip_until_sync = False
            if self.tx == TransactionStatus.IDLE:  # portals live until the end of their transaction
                self.close_portals()
            self.send(m.ReadyForQuery(status=self.tx))
            return None
        if self.skip_until_sync:
            return None
        try:
            await self.on_extended(msg)
        except (Denied, QueryError) as exc:
            self.fail(exc)
            self.skip_until_sync = True
        return None

    def on_cancel(self, msg: m.CancelRequest) -> None:
        target = self.gw.sessions.get(msg.process_id)
        if target is None or not hmac.compare_digest(bytes(msg.secret_key), target.secret):
            return
        if target.current is not None:
            target.current.cancel("cancelled by the client")
        for portal in target.portals.values():
            if portal.run is not None:
                portal.run.cancel("cancelled by the client")

    # --- start-up and SCRAM-SHA-256 -------------------------------------------------------------------
    def on_startup(self, msg: m.StartupMessage) -> bool | None:
        if self.gw.tls is not None and self.writer.get_extra_info("ssl_object") is None:
            self.error("this gateway requires TLS: connect with sslmode=require", "28000", "FATAL")
            return False
        self.user = str(msg.params.get("user", ""))[:63]
        if self.gw.throttled(self.address):
            self.gw.audit.record(self.user, self.client, "<login>", False, "too many failed logins from this address")
            self.error("too many failed logins from this address: wait a minute", "28000", "FATAL")
            return False
        verifier = self.gw.verifiers.get(self.user, self.gw._decoy)  # unknown users fail the same way
        self.scram = SCRAM.make_server(lambda _username: verifier)
        self.send(m.AuthenticationSASL(mechanisms=["SCRAM-SHA-256"]))
        return None

    def on_sasl(self, msg: m.PGMessage) -> bool | None:
        if self.scram is None:
            self.error("start-up message expected", "08P01", "FATAL")
            return False
        try:
            if isinstance(msg, m.SASLInitialResponse):
                if msg.mechanism != "SCRAM-SHA-256":
                    raise scramp.ScramException("unsupported mechanism")
                # PostgreSQL clients send an empty SCRAM user name (the start-up message names the user);
                # scramp refuses that, so it parses a copy with the name filled and keeps the original
                # client-first-bare, over which the client computed its proof.
                client_first = bytes(msg.data or b"").decode()
                _header, _, bare = client_first.partition(",")[2].partition(",")
                gs2 = client_first[: len(client_first) - len(bare)]
                self.scram.set_client_first(gs2 + bare.replace("n=,", "n=x,", 1))
                self.scram.client_first_bare = bare
                self.send(m.AuthenticationSASLContinue(data=self.scram.get_server_first().encode()))
                return None
            self.scram.set_client_final(bytes(getattr(msg, "data", b"") or b"").decode())
            if self.user not in self.gw.verifiers:
                raise scramp.ScramException("unknown user")
        except (scramp.ScramException, UnicodeDecodeError, ValueError):
            self.gw.failed(self.address)
            self.gw.audit.record(self.user, self.client, "<login>", False, "password authentication failed")
            self.error(f'password authentication failed for user "{printable(self.user, 63)}"', "28P01", "FATAL")
            return False
        if self.gw.connected[self.user] >= self.gw.limits.max_connections_per_ministry:
            cap = self.gw.limits.max_connections_per_ministry
            self.gw.audit.record(self.user, self.client, "<login>", False, f"connection limit ({cap}) reached")
            self.error(f"{self.user} already has {cap} connections, the gateway's limit", "53300", "FATAL")
            return False
        self.gw.connected[self.user] += 1
        self.counted = True
        self.guard.authenticated = True
        self.send(m.AuthenticationSASLFinal(data=self.scram.get_server_final().encode()), m.AuthenticationOk())
        self.engine = self.gw.engines[self.user]
        self.cursor = self.engine.cursor()
        self.catalog = Catalog(self.engine.relations, self.user)
        for name in (
            "server_version",
            "server_encoding",
            "client_encoding",
            "DateStyle",
            "TimeZone",
            "integer_datetimes",
            "standard_conforming_strings",
        ):
            self.send(m.ParameterStatus(name=name, value=SETTINGS[name]))
        self.send(m.ParameterStatus(name="session_authorization", value=self.user))
        self.send(m.BackendKeyData(process_id=self.pid, secret_key=self.secret))
        self.send(m.ReadyForQuery(status=self.tx))
        return None

    # --- execution ------------------------------------------------------------------------------------
    def _prepare(self, sql: str) -> tuple[bool, policy.Checked]:
        """In the ministry's pool: route (catalog or data) and check; the SQL to run."""
        assert self.engine is not None and self.catalog is not None
        with self.engine.slots:  # checking costs a core too
            return self._route(sql)

    def _route(self, sql: str) -> tuple[bool, policy.Checked]:
        assert self.engine is not None and self.catalog is not None
        if not Catalog.is_show(sql):
            try:
                tree = policy.parse(sql)
            except Denied:  # PostgreSQL-only catalog syntax ('x'::regclass, OPERATOR(…)) parses after rewriting
                if not Catalog.looks_like_catalog(sql):
                    raise
            else:
                if not policy.is_catalog_query(tree, self.catalog.table_names):
                    return False, self.engine.check(sql, tree)
        return True, policy.Checked(self.catalog.check(sql))

    async def check(self, sql: str, kind: str) -> tuple[str, bool, str, float]:
        """Audit the intent, then route and check off the event loop: (audit id, catalog?, SQL to run, start)."""
        assert self.engine is not None
        started = time.perf_counter()
        record = self.gw.audit.intent(self.user, self.client, sql, kind)
        loop = asyncio.get_running_loop()
        try:
            known = self.engine.cached(sql)  # a statement checked before: no hop to the pool
            if known is not None:
                self.checked[record] = known
                return record, False, known.sql, started
            catalog, self.checked[record] = await asyncio.wait_for(
                loop.run_in_executor(self.engine.pool, self._prepare, sql), self.gw.limits.check_timeout_s
            )
        except TimeoutError:
            reason = f"statement too complex: not checked within {self.gw.limits.check_timeout_s:g} s"
            self.gw.audit.outcome(
                record, self.user, self.client, sql, False, reason, 0, time.perf_counter() - started, kind
            )
            raise Denied(reason) from None
        except Denied as exc:
            self.gw.audit.outcome(
                record, self.user, self.client, sql, False, str(exc), 0, time.perf_counter() - started, kind
            )
            raise
        except QueryError as exc:
            self.gw.audit.outcome(
                record, self.user, self.client, sql, False, str(exc), 0, time.perf_counter() - started, kind
            )
            raise
        return record, catalog, self.checked[record].sql, started

    def start(self, sql: str, record: tuple[str, bool, str, float], params: list[Any], kind: str) -> Running:
        assert self.engine is not None and self.catalog is not None
        audit_id, catalog, checked, started = record
        own_cursor = True
        if catalog:
            cursor = self.catalog.cursor()
        elif any(
            p.run is not None and not p.run.finished and p.run.cursor is self.cursor for p in self.portals.values()
        ):
            cursor = self.engine.cursor()  # a suspended portal streams from the session's cursor
        else:
            cursor, own_cursor = self.cursor, False
        limits = self.gw.limits.run_limits()
        known = self.checked.get(audit_id)
        persons = known.person_columns if known is not None and kind == "query" else ()
        execution = Execution(cursor, checked, params, limits, self.engine.slots, persons)
        running = Running(self, execution, cursor, (sql, audit_id, kind, started), own_cursor)
        running.start(self.engine.pool)
        return running

    def finish(self, running: Running, error: Exception | None = None) -> None:
        sql, audit_id, kind, started = running.record
        took = time.perf_counter() - started
        known = self.checked.pop(audit_id, None)
        read = known.relations if known is not None else set()
        reason = "" if error is None else f"failed: {error}"
        self.gw.audit.outcome(audit_id, self.user, self.client, sql, True, reason, running.rows, took, kind, read)
        if running.execution.persons:  # rows about persons reached the ministry, even if the query then failed
            self.gw.audit.access(audit_id, self.user, read, running.execution.persons)

    def fail(self, exc: Exception) -> None:
        if isinstance(exc, Denied):
            self.error(f"permission denied: {exc}", "42501")
        else:
            self.error(str(exc), getattr(exc, "sqlstate", "XX000"))
        if self.tx == TransactionStatus.IN_TRANSACTION:
            self.tx = TransactionStatus.ERROR_TRANSACTION

    def transaction(self, sql: str) -> str | None:
        """Session commands drivers send (BEGIN / COMMIT / ROLLBACK, DEALLOCATE, DISCARD ALL): accepted;
        the gateway is read-only, so a transaction only tracks the status clients expect."""
        words = sql[:200].strip().rstrip(";").strip().lower().split()
        if len(words) > 4:
            return None
        if words[:1] == ["deallocate"]:
            name = words[-1] if len(words) > 1 else "all"
            if name == "all":
                self.statements.clear()
            else:
                self.statements.pop(name.strip('"'), None)
            return "DEALLOCATE ALL" if name == "all" else "DEALLOCATE"
        if words == ["discard", "all"]:
            self.statements.clear()
            self.close_portals()
            return "DISCARD ALL"
        tag = TRANSACTION.get(" ".join(w for w in words if w not in ("transaction", "work")))
        if tag == "BEGIN":
            self.tx = TransactionStatus.IN_TRANSACTION
        elif tag:
            self.tx = TransactionStatus.IDLE
        return tag

    @staticmethod
    def description(columns: list[str], types: list[str]) -> m.RowDescription:
        fields = []
        for name, duck_type in zip(columns, types, strict=True):
            type_oid = pgtypes.oid(duck_type)
            fields.append(
                m.FieldDescription(
                    name=name, type_oid=type_oid, type_size=pgtypes.size(type_oid), type_modifier=-1, format_code=0
                )
            )
        return m.RowDescription(fields=fields)

    async def on_query(self, sql: str) -> None:
        if not sql.strip().strip(";").strip():
            self.send(m.EmptyQueryResponse(), m.ReadyForQuery(status=self.tx))
            return
        tag = self.transaction(sql)
        if tag:
            self.send(m.CommandComplete(tag=tag), m.ReadyForQuery(status=self.tx))
            return
        running = None
        try:
            running = self.start(sql, await self.check(sql, "query"), [], "query")
            self.current = running
            columns, types = await running.description()
            self.send(self.description(columns, types))
            rows, _complete = await running.rows_upto(0)  # streams big results; the rest comes back here
            await self.write_rows(rows)
            self.send(m.CommandComplete(tag=f"SELECT {running.rows}"))
            self.finish(running)
        except (Denied, QueryError) as exc:
            if running is not None:
                self.finish(running, exc)
            self.fail(exc)
        finally:
            self.current = None
        self.send(m.ReadyForQuery(status=self.tx))

    def close_portals(self) -> None:
        for portal in self.portals.values():
            if portal.run is not None:
                portal.run.cancel("portal closed")
        self.portals.clear()

    def _close_portal(self, name: str) -> None:
        portal = self.portals.pop(name, None)
        if portal is not None and portal.run is not None:
            portal.run.cancel("portal closed")

    async def on_extended(self, msg: m.PGMessage) -> None:
        if isinstance(msg, m.Parse):
            if msg.statement not in self.statements and len(self.statements) >= self.gw.limits.max_prepared:
                raise QueryError(
                    f"more than {self.gw.limits.max_prepared} prepared statements in this session: DEALLOCATE some",
                    "53400",
                )
            if len(msg.query.encode("utf-8", "replace")) > policy.MAX_STATEMENT_BYTES:
                raise Denied(f"statement too long (over {policy.MAX_STATEMENT_BYTES:,} bytes)")
            self.statements[msg.statement] = (msg.query, list(msg.param_types))
            self.send(m.ParseComplete())
        elif isinstance(msg, m.Bind):
            if msg.statement not in self.statements:
                raise QueryError(f'prepared statement "{printable(msg.statement, 63)}" does not exist', "26000")
            sql, types = self.statements[msg.statement]
            if any(f == 1 for f in msg.result_formats):
                raise QueryError("binary result format is not supported: request text results", "0A000")
            self._close_portal(msg.portal)
            if len(self.portals) >= self.gw.limits.max_portals:
                raise QueryError(f"more than {self.gw.limits.max_portals} open portals in this session", "53400")
            formats = msg.param_formats or [0]
            params = [
                pgtypes.decode_param(
                    raw, types[i] if i < len(types) else 0, (formats[i] if len(formats) > 1 else formats[0]) == 1
                )
                for i, raw in enumerate(msg.param_values)
            ]
            portal = WirePortal(tag=self.transaction(sql))
            if not portal.tag and sql.strip():
                portal.run = self.start(sql, await self.check(sql, "query"), params, "query")
            self.portals[msg.portal] = portal
            self.send(m.BindComplete())
        elif isinstance(msg, m.Describe):
            if msg.kind == "S":
                if msg.name not in self.statements:
                    raise QueryError(f'prepared statement "{printable(msg.name, 63)}" does not exist', "26000")
                sql, types = self.statements[msg.name]
                n_params = len(types) or sql.count("$")
                self.send(
                    m.ParameterDescription(type_oids=[t or pgtypes.TEXT for t in types] or [pgtypes.TEXT] * n_params)
                )
                self.send(await self.describe_statement(sql, n_params))
            else:
                portal = self.portals.get(msg.name, WirePortal())
                if portal.run is None:
                    self.send(m.NoData())
                else:
                    try:
                        self.send(self.description(*await portal.run.description()))
                    except QueryError as exc:
                        self.finish(portal.run, exc)
                        portal.run = None
                        raise
        elif isinstance(msg, m.Execute):
            portal = self.portals.get(msg.portal, WirePortal())
            if portal.run is None:
                self.send(m.CommandComplete(tag=portal.tag) if portal.tag else m.EmptyQueryResponse())
                return
            running = portal.run
            self.current = running
            try:
                await running.description()
                rows, complete = await running.rows_upto(msg.max_rows)
                await self.write_rows(rows)
            except QueryError as exc:
                self.finish(running, exc)
                portal.run = None
                raise
            finally:
                self.current = None
            if complete:
                self.send(m.CommandComplete(tag=f"SELECT {running.rows}"))
                self.finish(running)
                portal.run = None
                portal.tag = None
            else:
                self.send(m.PortalSuspended())
        elif isinstance(msg, m.Close):
            if msg.kind == "S":
                self.statements.pop(msg.name, None)
            else:
                self._close_portal(msg.name)
            self.send(m.CloseComplete())

    async def describe_statement(self, sql: str, n_params: int) -> m.PGMessage:
        """The result's columns of a prepared statement: checked, audited and run with LIMIT 0."""
        if self.transaction(sql) or not sql.strip():
            return m.NoData()
        audit_id, catalog, checked, started = await self.check(sql, "describe")
        shape = f"SELECT * FROM ({checked}) AS described LIMIT 0"
        running = self.start(sql, (audit_id, catalog, shape, started), [None] * n_params, "describe")
        try:
            columns, types = await running.description()
            await running.rows_upto(0)
        except QueryError as exc:
            self.finish(running, exc)
            raise
        self.finish(running)
        return self.description(columns, types)


def load_passwords(path: Path) -> dict[str, str]:
    import json

    if not path.exists():
        raise FileNotFoundError(
            f"no gateway passwords at {path}: run make setup, or set LAKEHOUSE_GATEWAY_PASSWORDS_FILE to a JSON file "
            "{ministry: password} kept outside the repo"
        )
    return {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
