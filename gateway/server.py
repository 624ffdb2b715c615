"""The ministries' SQL gateway: a read-only server speaking the PostgreSQL wire protocol (pygwire codec,
SCRAM-SHA-256 by scramp, optional TLS) in front of one locked DuckDB engine per ministry.

Every statement goes through the catalog shim (browsing) or the policy check (data), runs with a time
limit and a row cap, and is audited (ministry, SQL, allowed or denied with the reason, rows, duration).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import ssl
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import scramp
from pygwire import BackendConnection, TransactionStatus
from pygwire import messages as m

from gateway import pgtypes
from gateway.audit import Audit
from gateway.catalog import SETTINGS, Catalog
from gateway.engine import MinistryEngine, QueryError, Result, run
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


@dataclass
class Limits:
    timeout_s: float = 30.0
    max_rows: int = 100_000


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

    async def serve(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(lambda r, w: Session(self, r, w).run(), host, port)


@dataclass
class Portal:
    result: Result | None = None
    tag: str | None = None  # BEGIN / COMMIT / ROLLBACK
    sent: int = 0


class Session:
    """One client connection."""

    def __init__(self, gateway: Gateway, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.gw = gateway
        self.reader, self.writer = reader, writer
        self.conn = BackendConnection(strict=False)
        self.user = ""
        self.engine: MinistryEngine | None = None
        self.cursor: Any = None
        self.catalog: Catalog | None = None
        self.scram: Any = None
        self.statements: dict[str, tuple[str, list[int]]] = {}
        self.portals: dict[str, Portal] = {}
        self.skip_until_sync = False
        self.tx = TransactionStatus.IDLE
        self.out = bytearray()
        peer = writer.get_extra_info("peername")
        self.client = f"{peer[0]}:{peer[1]}" if peer else "?"

    def send(self, *msgs: m.PGMessage) -> None:
        for msg in msgs:
            self.out += self.conn.send(msg)

    async def flush(self) -> None:
        """One write per batch of client messages (a message per syscall costs more than the query)."""
        if self.out:
            self.writer.write(bytes(self.out))
            self.out.clear()
        await self.writer.drain()

    def error(self, message: str, sqlstate: str, severity: str = "ERROR") -> None:
        self.send(m.ErrorResponse(fields={"S": severity, "V": severity, "C": sqlstate, "M": message}))

    async def run(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return
                for msg in self.conn.receive(data):
                    if await self.on_message(msg) is False:
                        await self.flush()
                        return
                await self.flush()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        except Exception:  # a protocol bug must not take the server down
            log.exception("session %s (%s) failed", self.client, self.user)
        finally:
            if self.cursor is not None:
                self.cursor.close()
            self.writer.close()

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

    # --- start-up and SCRAM-SHA-256 -------------------------------------------------------------------
    def on_startup(self, msg: m.StartupMessage) -> bool | None:
        if self.gw.tls is not None and self.writer.get_extra_info("ssl_object") is None:
            self.error("this gateway requires TLS: connect with sslmode=require", "28000", "FATAL")
            return False
        self.user = msg.params.get("user", "")
        verifier = self.gw.verifiers.get(self.user, self.gw._decoy)  # unknown users fail the same way
        self.scram = SCRAM.make_server(lambda _username: verifier)
        self.send(m.AuthenticationSASL(mechanisms=["SCRAM-SHA-256"]))
        return None

    def on_sasl(self, msg: m.PGMessage) -> bool | None:
        try:
            if isinstance(msg, m.SASLInitialResponse):
                if msg.mechanism != "SCRAM-SHA-256":
                    raise scramp.ScramException("unsupported mechanism")
                # PostgreSQL clients send an empty SCRAM user name (the start-up message names the user);
                # scramp refuses that, so it parses a copy with the name filled and keeps the original
                # client-first-bare, over which the client computed its proof.
                client_first = msg.data.decode()
                _header, _, bare = client_first.partition(",")[2].partition(",")
                gs2 = client_first[: len(client_first) - len(bare)]
                self.scram.set_client_first(gs2 + bare.replace("n=,", "n=x,", 1))
                self.scram.client_first_bare = bare
                self.send(m.AuthenticationSASLContinue(data=self.scram.get_server_first().encode()))
                return None
            self.scram.set_client_final(bytes(getattr(msg, "data", b"") or b"").decode())
            if self.user not in self.gw.verifiers:
                raise scramp.ScramException("unknown user")
        except scramp.ScramException:
            self.gw.audit.record(self.user, self.client, "<login>", False, "password authentication failed")
            self.error(f'password authentication failed for user "{self.user}"', "28P01", "FATAL")
            return False
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
        self.send(m.BackendKeyData(process_id=os.getpid() & 0x7FFFFFFF, secret_key=secrets.token_bytes(4)))
        self.send(m.ReadyForQuery(status=self.tx))
        return None

    # --- execution ------------------------------------------------------------------------------------
    async def execute(self, sql: str, params: list[Any]) -> Result:
        """Check, run and audit one statement."""
        assert self.engine is not None and self.catalog is not None
        started = time.perf_counter()
        try:
            if self.catalog.handles(sql):
                result = self.catalog.run(sql)
            else:
                checked = self.engine.check(sql)
                result = await self._run_limited(checked, params)
        except Denied as exc:
            self.gw.audit.record(self.user, self.client, sql, False, str(exc), duration_s=time.perf_counter() - started)
            raise
        except QueryError as exc:
            self.gw.audit.record(self.user, self.client, sql, True, f"failed: {exc}", 0, time.perf_counter() - started)
            raise
        self.gw.audit.record(self.user, self.client, sql, True, "", len(result.rows), time.perf_counter() - started)
        return result

    async def _run_limited(self, sql: str, params: list[Any]) -> Result:
        task = asyncio.ensure_future(asyncio.to_thread(run, self.cursor, sql, params, self.gw.limits.max_rows))
        try:
            return await asyncio.wait_for(asyncio.shield(task), self.gw.limits.timeout_s)
        except TimeoutError:
            self.cursor.interrupt()
            with contextlib.suppress(QueryError):
                await task
            limit = self.gw.limits.timeout_s
            raise QueryError(f"query cancelled after {limit:g} s, the gateway's limit", "57014") from None

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
        words = sql.strip().rstrip(";").strip().lower().split()
        if words[:1] == ["deallocate"]:
            name = words[-1] if len(words) > 1 else "all"
            if name == "all":
                self.statements.clear()
            else:
                self.statements.pop(name.strip('"'), None)
            return "DEALLOCATE ALL" if name == "all" else "DEALLOCATE"
        if words == ["discard", "all"]:
            self.statements.clear()
            self.portals.clear()
            return "DISCARD ALL"
        tag = TRANSACTION.get(" ".join(w for w in words if w not in ("transaction", "work")))
        if tag == "BEGIN":
            self.tx = TransactionStatus.IN_TRANSACTION
        elif tag:
            self.tx = TransactionStatus.IDLE
        return tag

    def rows(self, result: Result, start: int = 0, limit: int = 0) -> int:
        """DataRow messages, framed here in one buffer (the hot path: one codec call per row is slow)."""
        encoders = [pgtypes.encoder(pgtypes.oid(t)) for t in result.types]
        end = len(result.rows) if not limit else min(len(result.rows), start + limit)
        out = bytearray()
        count = struct.pack("!h", len(encoders))
        null = b"\xff\xff\xff\xff"
        for row in result.rows[start:end]:
            body = bytearray(count)
            for value, encode in zip(row, encoders, strict=True):
                if value is None:
                    body += null
                else:
                    encoded = encode(value)
                    body += struct.pack("!i", len(encoded)) + encoded
            out += b"D" + struct.pack("!i", len(body) + 4) + body
        self.out += out
        return end - start

    @staticmethod
    def description(result: Result) -> m.RowDescription:
        fields = []
        for name, duck_type in zip(result.columns, result.types, strict=True):
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
        try:
            result = await self.execute(sql, [])
            self.send(self.description(result))
            self.send(m.CommandComplete(tag=f"SELECT {self.rows(result)}"))
        except (Denied, QueryError) as exc:
            self.fail(exc)
        self.send(m.ReadyForQuery(status=self.tx))

    async def on_extended(self, msg: m.PGMessage) -> None:
        if isinstance(msg, m.Parse):
            self.statements[msg.statement] = (msg.query, list(msg.param_types))
            self.send(m.ParseComplete())
        elif isinstance(msg, m.Bind):
            sql, types = self.statements[msg.statement]
            if any(f == 1 for f in msg.result_formats):
                raise QueryError("binary result format is not supported: request text results", "0A000")
            formats = msg.param_formats or [0]
            params = [
                pgtypes.decode_param(
                    raw, types[i] if i < len(types) else 0, (formats[i] if len(formats) > 1 else formats[0]) == 1
                )
                for i, raw in enumerate(msg.param_values)
            ]
            portal = Portal(tag=self.transaction(sql))
            if not portal.tag and sql.strip():
                portal.result = await self.execute(sql, params)
            self.portals[msg.portal] = portal
            self.send(m.BindComplete())
        elif isinstance(msg, m.Describe):
            if msg.kind == "S":
                sql, types = self.statements[msg.name]
                self.send(
                    m.ParameterDescription(
                        type_oids=[t or pgtypes.TEXT for t in types] or [pgtypes.TEXT] * sql.count("$")
                    )
                )
                self.send(await self.describe_statement(sql, len(types) or sql.count("$")))
            else:
                portal = self.portals.get(msg.name, Portal())
                self.send(self.description(portal.result) if portal.result else m.NoData())
        elif isinstance(msg, m.Execute):
            portal = self.portals.get(msg.portal, Portal())
            if portal.result is None:
                self.send(m.CommandComplete(tag=portal.tag) if portal.tag else m.EmptyQueryResponse())
                return
            sent = self.rows(portal.result, portal.sent, msg.max_rows)
            portal.sent += sent
            if msg.max_rows and portal.sent < len(portal.result.rows):
                self.send(m.PortalSuspended())
            else:
                self.send(m.CommandComplete(tag=f"SELECT {portal.sent}"))
        elif isinstance(msg, m.Close):
            (self.statements if msg.kind == "S" else self.portals).pop(msg.name, None)
            self.send(m.CloseComplete())

    async def describe_statement(self, sql: str, n_params: int) -> m.PGMessage:
        if self.transaction(sql) or not sql.strip():
            return m.NoData()
        assert self.catalog is not None and self.engine is not None
        if self.catalog.handles(sql):
            return self.description(self.catalog.run(sql))
        checked = self.engine.check(sql)
        shape = await self._run_limited(f"SELECT * FROM ({checked}) AS described LIMIT 0", [None] * n_params)
        return self.description(shape)


def load_passwords(path: Path) -> dict[str, str]:
    import json

    if not path.exists():
        raise FileNotFoundError(
            f"no gateway passwords at {path}: run make setup, or set LAKEHOUSE_GATEWAY_PASSWORDS_FILE to a JSON file "
            "{ministry: password} kept outside the repo"
        )
    return {str(k): str(v) for k, v in json.loads(path.read_text()).items()}
