"""Deletes captured from PostgreSQL's write-ahead log (logical decoding through the wal2json plugin):
the keys an incremental batch must tombstone, at a cost that follows the change instead of reading
every key of the source and of bronze.

One replication slot per bronze table (the name carries the lake, so two lakes on one source never
consume each other's changes, and a creation stamp, so a slot made for a snapshot that then failed is
never mistaken for the one bronze last read). The protocol keeps exactly-once without two-phase commit:
- a snapshot creates a new slot *before* reading the table, so every later delete is in it, and records
  its name in the commit;
- a batch reads the deletes up to the current WAL position L *before* reading its window (a key
  deleted and inserted again is alive: the row read later wins), commits bronze with L in the commit's
  metadata, then advances the slot to L; a crash in between replays changes <= L, which are skipped.
A source without logical decoding (wal_level, the plugin, a replica identity that carries the key)
or a slot lost or missing falls back to comparing keys (bronze.deleted_keys), and says why.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from data_contracts import SourceTable
from lakehouse.core import lake
from lakehouse.core.settings import Settings
from spark_jobs.source import Server, qualified

log = logging.getLogger(__name__)
PLUGIN = "wal2json"
LSN_KEY = "lakehouse.cdc_lsn"
SLOT_KEY = "lakehouse.cdc_slot"


def slot_base(settings: Settings, table: SourceTable) -> str:
    """The name every slot of this lake and table starts with (a creation stamp follows)."""
    lake_id = hashlib.sha256(str(settings.lake_root.resolve()).encode()).hexdigest()[:8]
    return f"{settings.cdc_slot_prefix}_{lake_id}_{table.sector}_{table.table}".lower()[:50]


def recorded(bronze: Path) -> tuple[str | None, str | None]:
    """(slot, LSN) the last batch that said anything of change data capture recorded in its commit;
    (None, None) also when that batch gave it up (empty values): its slot must not be read again."""
    if lake.is_table(bronze):
        for entry in lake.open_table(bronze).history():
            if LSN_KEY in entry:
                return entry.get(SLOT_KEY) or None, entry[LSN_KEY] or None
    return None, None


@dataclass
class Batch:
    """What change data capture gives one batch: the deletes (None: compare keys this time), the
    commit metadata recording the slot position, and the position to advance the slot to after it."""

    capture: Deletes | None = None
    slot: str | None = None
    gone: pa.Table | None = None
    advance_to: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)

    @classmethod
    def begin(cls, settings: Settings, table: SourceTable, bronze: Path, incremental: bool) -> Batch:
        """Read the deletes (an incremental batch with a usable slot) or start a new slot; any failure
        (slots exhausted, no privilege, a slot dropped meanwhile) falls back to comparing keys, and the
        commit then records that the old slot is given up: its replayed deletes could hit keys inserted
        again since."""
        capture = Deletes.of(settings, table)
        if capture is None:
            return cls()
        try:
            slot, lsn = recorded(bronze)
            if incremental and lsn and capture.usable(slot):
                gone, upto = capture.deletes(slot or "", after=lsn)
                return cls(capture, slot, gone, upto, {LSN_KEY: upto, SLOT_KEY: slot or ""})
            slot, start = capture.restart()
            return cls(capture, slot, None, None, {LSN_KEY: start, SLOT_KEY: slot})
        except Exception as exc:  # the driver's errors; the batch goes on without capture
            log.warning(
                "%s: change data capture failed (%s); this batch compares keys",
                table.qualified_name,
                (str(exc).splitlines() or [type(exc).__name__])[0][:200],
            )
            return cls(metadata={LSN_KEY: "", SLOT_KEY: ""})

    def finish(self) -> None:
        """Advance the slot past what bronze committed (or found nothing to commit). A failure only
        delays the release of WAL: the next batch skips what this one applied, by LSN."""
        if self.capture is None or not self.slot or self.advance_to is None:
            return
        try:
            self.capture.advance(self.slot, self.advance_to)
        except Exception as exc:
            log.warning("%s: replication slot not advanced (%s)", self.capture.table.qualified_name, exc)


def _lsn(text: str) -> int:
    hi, lo = text.split("/")
    return (int(hi, 16) << 32) + int(lo, 16)


@dataclass
class Deletes:
    """Deletes of one PostgreSQL table from its replication slot (see the module docstring)."""

    settings: Settings
    table: SourceTable
    base: str

    def _connect(self):
        return _connect(self.settings, self.table.database)

    @classmethod
    def of(cls, settings: Settings, table: SourceTable) -> Deletes | None:
        """The table's capture, or None (with the reason logged) when the source cannot provide it."""
        if table.server_type != "postgres" or not settings.cdc:
            return None
        capture = cls(settings, table, slot_base(settings, table))
        try:
            with capture._connect() as conn:
                why = capture._unsupported(conn)
        except Exception as exc:  # the read itself will report an unreachable source
            why = f"cannot check ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
        if why:
            log.info("%s: deletes found by comparing keys: no change data capture (%s)", table.qualified_name, why)
            return None
        return capture

    def _unsupported(self, conn) -> str | None:
        level = conn.execute("SHOW wal_level").fetchone()[0]
        if level != "logical":
            return f"wal_level is {level}, not logical"
        ident = conn.execute(
            "SELECT c.relreplident, EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) "
            "FROM pg_class c WHERE c.oid = to_regclass(%s)",
            (qualified(self.table),),
        ).fetchone()
        if ident is None:
            return f"no table {qualified(self.table)}"
        if ident[0] == "n" or (ident[0] == "d" and not ident[1]):
            return "the table's replica identity does not carry its key (ALTER TABLE ... REPLICA IDENTITY FULL)"
        return None

    def restart(self) -> tuple[str, str]:
        """A new slot at the current WAL position, replacing this table's earlier ones; returns (slot,
        position). Lost slots of the prefix (WAL cap exceeded: a forgotten lake) are dropped too."""
        slot = f"{self.base}_{time.time_ns() // 1_000_000:x}"
        with self._connect() as conn:
            stale = conn.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE NOT active AND "
                "(slot_name LIKE %s OR (slot_name LIKE %s AND wal_status = 'lost'))",
                (_like(self.base) + "\\_%", _like(self.settings.cdc_slot_prefix) + "\\_%"),
            ).fetchall()
            for (name,) in stale:
                conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
            lsn = conn.execute(
                "SELECT lsn::text FROM pg_create_logical_replication_slot(%s, %s)", (slot, PLUGIN)
            ).fetchone()[0]
        return slot, lsn

    def usable(self, slot: str | None) -> bool:
        """The slot bronze recorded still exists with its WAL (not replaced, not lost)."""
        if not slot or not slot.startswith(self.base + "_"):
            return False
        with self._connect() as conn:
            row = conn.execute("SELECT wal_status FROM pg_replication_slots WHERE slot_name = %s", (slot,)).fetchone()
        return row is not None and row[0] != "lost"

    def deletes(self, slot: str, after: str) -> tuple[pa.Table, str]:
        """Keys deleted after LSN `after`, up to the current WAL position, which is returned."""
        keys = list(self.table.primary_key)
        with self._connect() as conn:
            upto = conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]
            rows = conn.execute(
                "SELECT lsn::text, data FROM pg_logical_slot_peek_changes(%s, %s::pg_lsn, NULL, "
                "'format-version', '2', 'include-transaction', 'false', 'actions', 'delete', 'add-tables', %s)",
                (slot, upto, f"{self.table.db_schema or 'public'}.{self.table.table}"),
            ).fetchall()
        found: dict[str, list] = {k: [] for k in keys}
        for lsn, data in rows:
            if _lsn(lsn) <= _lsn(after):
                continue  # applied by a batch whose slot advance did not happen (crash)
            identity = {c["name"]: c["value"] for c in json.loads(data).get("identity", [])}
            for k in keys:
                found[k].append(identity.get(k))
        return pa.table(found), upto

    def advance(self, slot: str, lsn: str) -> None:
        """Release WAL up to `lsn` (after bronze committed it, or found nothing to commit)."""
        with self._connect() as conn:
            conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (slot, lsn))


def _connect(settings: Settings, database: str):
    """An autocommit connection to a database of the PostgreSQL source server."""
    import psycopg

    host, port, user, password = Server.of_url(settings.postgres_url)
    return psycopg.connect(
        host=host, port=port, user=user, password=password or None, dbname=database, autocommit=True, connect_timeout=10
    )


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")


def wal_held(settings: Settings, slot: str) -> int | None:
    """Bytes of WAL the slot keeps on the source server (None: no such slot, or it is lost). A growing
    figure means ingestion stopped reading it: the server's disk pays until the cap."""
    with _connect(settings, "postgres") as conn:
        row = conn.execute(
            "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint, wal_status "
            "FROM pg_replication_slots WHERE slot_name = %s",
            (slot,),
        ).fetchone()
    return None if row is None or row[1] == "lost" or row[0] is None else int(row[0])


def drop_slots(settings: Settings, prefix: str) -> list[str]:
    """Drop the inactive slots whose name starts with `prefix` in every database of the PostgreSQL
    server (a lake's or a test session's, when it is removed). Returns their names."""
    with _connect(settings, "postgres") as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT slot_name FROM pg_replication_slots WHERE NOT active AND slot_name LIKE %s",
                (_like(prefix) + "%",),
            ).fetchall()
        ]
        for name in names:
            conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
    return names
