"""DuckDB types as PostgreSQL types on the wire: OIDs for RowDescription, values in text format, and
parameters decoded from text or binary (what psql, psycopg and JDBC send)."""

from __future__ import annotations

import struct
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

# PostgreSQL type OID, name, size (-1 = variable)
BOOL, BYTEA, INT8, INT2, INT4, TEXT, FLOAT4, FLOAT8, VARCHAR = 16, 17, 20, 21, 23, 25, 700, 701, 1043
DATE, TIME, TIMESTAMP, TIMESTAMPTZ, INTERVAL, NUMERIC, UUID = 1082, 1083, 1114, 1184, 1186, 1700, 2950
TYPES: dict[int, tuple[str, int]] = {
    BOOL: ("boolean", 1),
    BYTEA: ("bytea", -1),
    INT8: ("bigint", 8),
    INT2: ("smallint", 2),
    INT4: ("integer", 4),
    TEXT: ("text", -1),
    FLOAT4: ("real", 4),
    FLOAT8: ("double precision", 8),
    VARCHAR: ("character varying", -1),
    DATE: ("date", 4),
    TIME: ("time without time zone", 8),
    TIMESTAMP: ("timestamp without time zone", 8),
    TIMESTAMPTZ: ("timestamp with time zone", 8),
    INTERVAL: ("interval", 16),
    NUMERIC: ("numeric", -1),
    UUID: ("uuid", 16),
}
_DUCKDB = {
    "BOOLEAN": BOOL,
    "TINYINT": INT2,
    "SMALLINT": INT2,
    "UTINYINT": INT2,
    "INTEGER": INT4,
    "USMALLINT": INT4,
    "BIGINT": INT8,
    "UINTEGER": INT8,
    "UBIGINT": NUMERIC,
    "HUGEINT": NUMERIC,
    "UHUGEINT": NUMERIC,
    "FLOAT": FLOAT4,
    "DOUBLE": FLOAT8,
    "VARCHAR": TEXT,
    "BLOB": BYTEA,
    "DATE": DATE,
    "TIME": TIME,
    "TIMESTAMP": TIMESTAMP,
    "TIMESTAMP_NS": TIMESTAMP,
    "TIMESTAMP_MS": TIMESTAMP,
    "TIMESTAMP_S": TIMESTAMP,
    "TIMESTAMP WITH TIME ZONE": TIMESTAMPTZ,
    "INTERVAL": INTERVAL,
    "UUID": UUID,
}
PG_EPOCH = date(2000, 1, 1)


def oid(duckdb_type: str) -> int:
    """PostgreSQL OID for a DuckDB type name (DECIMAL(p,s) -> numeric; nested types travel as text)."""
    name = duckdb_type.upper()
    if name.startswith("DECIMAL"):
        return NUMERIC
    return _DUCKDB.get(name, TEXT)


def type_name(type_oid: int) -> str:
    return TYPES.get(type_oid, ("text", -1))[0]


def size(type_oid: int) -> int:
    return TYPES.get(type_oid, ("text", -1))[1]


def encode(value: Any, type_oid: int) -> bytes | None:
    """A value in PostgreSQL's text format."""
    if value is None:
        return None
    if type_oid == BOOL:
        return b"t" if value else b"f"
    if type_oid == BYTEA:
        return b"\\x" + bytes(value).hex().encode()
    if isinstance(value, datetime):
        return value.isoformat(sep=" ").encode()
    if isinstance(value, float):
        return repr(value).encode() if value == value and abs(value) != float("inf") else str(value).encode()
    if isinstance(value, timedelta):
        return f"{value.days} days {value.seconds} seconds {value.microseconds} microseconds".encode()
    return str(value).encode()


def _text(value: Any) -> bytes:
    return value.encode() if isinstance(value, str) else encode(value, TEXT) or b""


def _integer(value: Any) -> bytes:
    return b"%d" % value


def encoder(type_oid: int) -> Any:
    """The fastest text encoder for a column of this type (rows are encoded column-type by column-type)."""
    if type_oid in (TEXT, VARCHAR):
        return _text
    if type_oid in (INT2, INT4, INT8):
        return _integer
    return lambda value: encode(value, type_oid)


def decode_param(raw: bytes | None, type_oid: int, binary: bool) -> Any:
    """A Bind parameter as a Python value DuckDB binds."""
    if raw is None:
        return None
    if not binary:
        text = raw.decode()
        if type_oid in (INT2, INT4, INT8):
            return int(text)
        if type_oid in (FLOAT4, FLOAT8):
            return float(text)
        if type_oid == NUMERIC:
            return Decimal(text)
        if type_oid == BOOL:
            return text.lower() in ("t", "true", "1", "yes", "on")
        if type_oid == DATE:
            return date.fromisoformat(text)
        return text
    if type_oid == INT2:
        return struct.unpack("!h", raw)[0]
    if type_oid == INT4:
        return struct.unpack("!i", raw)[0]
    if type_oid == INT8:
        return struct.unpack("!q", raw)[0]
    if type_oid == FLOAT4:
        return struct.unpack("!f", raw)[0]
    if type_oid == FLOAT8:
        return struct.unpack("!d", raw)[0]
    if type_oid == BOOL:
        return raw != b"\x00"
    if type_oid == DATE:
        return PG_EPOCH + timedelta(days=struct.unpack("!i", raw)[0])
    if type_oid in (TIMESTAMP, TIMESTAMPTZ):
        return datetime(2000, 1, 1) + timedelta(microseconds=struct.unpack("!q", raw)[0])
    if type_oid == NUMERIC:
        return _numeric(raw)
    if type_oid == BYTEA:
        return raw
    return raw.decode()


def _numeric(raw: bytes) -> Decimal:
    ndigits, weight, sign, dscale = struct.unpack("!hhHH", raw[:8])
    digits = struct.unpack(f"!{ndigits}H", raw[8 : 8 + 2 * ndigits])
    value = sum(Decimal(d) * Decimal(10000) ** (weight - i) for i, d in enumerate(digits))
    value = value.quantize(Decimal(1).scaleb(-dscale)) if dscale else value
    return -value if sign == 0x4000 else value
