"""dbt-duckdb plugin: Delta extension from its PyPI wheel, keyed pseudonyms, and Delta writes.

- configure_connection: LOADs the delta extension shipped in the `duckdb-extension-delta` wheel (no
  download; INSTALL fails offline) and registers `hmac_sha256(varchar) -> varchar`, a vectorised
  Arrow UDF keyed by LAKEHOUSE_PSEUDONYM_KEY. The key lives only in this process's memory.
- store: the `delta` materialization hands over a relation; it is staged once in a temp table, its
  content digest (schema, row count, order-free sum of row hashes) computed there, and streamed into
  the Delta table through the project's one commit module (lakehouse/core/commit.py, overwrite),
  which commits nothing when the digest equals the table's last one. A failed write leaves the
  previous Delta version in place.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from dbt.adapters.duckdb.plugins import BasePlugin
from dbt.adapters.duckdb.utils import TargetConfig
from duckdb import DuckDBPyConnection
from duckdb.sqltypes import VARCHAR

from lakehouse.core import commit
from lakehouse.core.duckdb_extensions import extension_path

KEY_ENV = "LAKEHOUSE_PSEUDONYM_KEY"
MIN_KEY_LENGTH = 16


def pseudonym_key() -> bytes:
    key = os.environ.get(KEY_ENV, "")
    if len(key) < MIN_KEY_LENGTH:
        raise RuntimeError(
            f"{KEY_ENV} is not set (or shorter than {MIN_KEY_LENGTH} characters): pseudonyms need the HMAC key; "
            "bin/lakehouse transform provides it"
        )
    return key.encode()


def hmac_udf(key: bytes) -> Callable[[pa.Array], pa.Array]:
    def hmac_sha256(values: pa.Array) -> pa.Array:
        return pa.array(
            [None if v is None else hmac.new(key, v.encode(), hashlib.sha256).hexdigest() for v in values.to_pylist()],
            pa.string(),
        )

    return hmac_sha256


class Plugin(BasePlugin):
    def initialize(self, plugin_config: dict[str, Any]) -> None:
        self._conn: DuckDBPyConnection | None = None

    def configure_connection(self, conn: DuckDBPyConnection) -> None:
        conn.load_extension(extension_path("delta"))
        conn.create_function("hmac_sha256", hmac_udf(pseudonym_key()), [VARCHAR], VARCHAR, type="arrow")
        self._conn = conn

    def store(self, target_config: TargetConfig) -> None:
        if self._conn is None or target_config.location is None:
            raise RuntimeError("delta store called before the connection was configured")
        cursor = self._conn.cursor()
        stage = "__lakehouse_store"
        try:
            cursor.execute(f"create or replace temp table {stage} as select * from {target_config.relation}")
            digest = content_digest(cursor, stage)  # before the reader: a query on the cursor would end it
            reader = cursor.sql(f"select * from {stage}").fetch_record_batch()
            commit.overwrite(Path(target_config.location.path), reader, digest=digest)
        finally:
            cursor.execute(f"drop table if exists {stage}")
            cursor.close()


def content_digest(cursor: DuckDBPyConnection, relation: str) -> str:
    """Identifies a relation's contents whatever its row order: column names and types, row count and
    the sum of DuckDB's (deterministic) row hashes."""
    schema = cursor.sql(f"select string_agg(column_name || ' ' || column_type, ',') from (describe {relation})")
    rows, total = cursor.sql(f"select count(*), sum(hash(t)::hugeint) from {relation} t").fetchone() or (0, 0)
    text = f"{schema.fetchone()[0]}|{rows}|{total}"  # type: ignore[index]
    return hashlib.sha256(text.encode()).hexdigest()
