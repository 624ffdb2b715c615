"""The erasure list: the citizens who asked to be erased (Law 91/2025), as keyed hashes.

A citizen ID is hashed on entry and never stored: the list holds HMAC-SHA-256 of it under a key derived
from the pseudonym key, so an entry is neither the ID nor the pseudonym silver uses, and worthless
without the key (held outside the repository and the lake). Ingestion leaves listed persons' rows out
(`excluded_rows_sql`); lakehouse/erasure.py removes them from what the lake already holds."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakehouse.core import lake
from lakehouse.core.settings import Settings, pseudonym_key

CONTEXT = b"lakehouse erasure list v1"  # domain separation: an erasure hash is never a pseudonym
REQUESTS = "erasure_requests.jsonl"


def normalise(citizen_id: str) -> str:
    """The ID as the registries store it: digits only (spaces and separators typed by a clerk dropped)."""
    digits = "".join(ch for ch in citizen_id if ch.isdigit())
    if len(digits) != 12:
        raise ValueError("a citizen ID has 12 digits (căn cước công dân); nothing was recorded")
    return digits


def _erasure_key() -> bytes:
    return hmac.new(pseudonym_key().encode(), CONTEXT, hashlib.sha256).digest()


def subject_hash(citizen_id: str) -> str:
    return hmac.new(_erasure_key(), normalise(citizen_id).encode(), hashlib.sha256).hexdigest()


def pseudonym(citizen_id: str) -> str:
    """The person's silver pseudonym (as dbt's hmac_sha256): computed for the purge, never stored."""
    return hmac.new(pseudonym_key().encode(), normalise(citizen_id).encode(), hashlib.sha256).hexdigest()


def hash_sql(column: str, dialect: str) -> str:
    """SQL for `subject_hash` of a column, in DuckDB's or Spark's dialect: HMAC spelled out with SHA-256
    (RFC 2104) over the padded key, so the engines filter at scan speed without a Python function. The
    value is reduced to its digits first, as `normalise` does: an ID spelled with spaces or dots (a row
    quarantined for its format) is the same person."""
    key = _erasure_key().ljust(64, b"\0")
    inner, outer = bytes(b ^ 0x36 for b in key).hex(), bytes(b ^ 0x5C for b in key).hex()
    if dialect == "duckdb":
        digits = f"regexp_replace(CAST({column} AS VARCHAR), '[^0-9]', '', 'g')"
        return f"sha256(unhex('{outer}') || unhex(sha256(unhex('{inner}') || encode({digits}))))"
    if dialect == "spark":
        digits = f"regexp_replace(CAST({column} AS STRING), '[^0-9]', '')"
        return (
            f"sha2(concat(unhex('{outer}'), unhex(sha2(concat(unhex('{inner}'), "
            f"encode({digits}, 'UTF-8')), 256))), 256)"
        )
    raise ValueError(f"no erasure hash for the {dialect!r} dialect")


@dataclass
class Request:
    request_id: str
    requested_at: str
    subject_hash: str
    completed_at: str | None = None


def requests_path(settings: Settings) -> Path:
    return lake.governance_dir(settings.lake_root) / REQUESTS


def requests(settings: Settings) -> list[Request]:
    path = requests_path(settings)
    if not path.exists():
        return []
    latest: dict[str, Request] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = Request(**json.loads(line))
            latest[r.request_id] = r  # a completion is appended as a new line
    return list(latest.values())


def erased_hashes(settings: Settings) -> frozenset[str]:
    """Every person on the erasure list (pending or done): ingestion leaves their rows out."""
    return frozenset(r.subject_hash for r in requests(settings))


def excluded_rows_sql(settings: Settings, person_column: str | None, dialect: str) -> str | None:
    """A predicate true for the rows of listed persons (their ID in `person_column`), or None."""
    hashes = erased_hashes(settings)
    if not hashes or person_column is None:
        return None
    listed = ", ".join(f"'{h}'" for h in sorted(hashes))
    return f"coalesce({hash_sql(person_column, dialect)} IN ({listed}), false)"


def append(path: Path, record: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")


def request(settings: Settings, citizen_id: str) -> Request:
    """Record a request (the ID hashed here, held nowhere); an ID already on the list is not added twice."""
    hashed = subject_hash(citizen_id)
    existing = next((r for r in requests(settings) if r.subject_hash == hashed), None)
    if existing is not None:
        return existing
    r = Request(uuid.uuid4().hex[:12], datetime.now(UTC).isoformat(timespec="seconds"), hashed)
    append(requests_path(settings), asdict(r))
    return r
