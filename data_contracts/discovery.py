"""Find the contract files (this folder and every folder in LAKEHOUSE_CONTRACTS_DIRS) and answer what
the contracts say as a whole: every source table and dataset, lookups, identifier shapes."""

from __future__ import annotations

import hashlib
import os
from functools import cache
from pathlib import Path

from data_contracts.model import DIRECT_IDENTIFIER, ContractError, Dataset, SourceTable
from data_contracts.odcs import parse_dataset, parse_source

CONTRACTS_DIR = Path(__file__).resolve().parent
# More contract folders (same layout: sources/<sector>/*.odcs.yaml, datasets/*.odcs.yaml), separated
# by os.pathsep: a new sector or table needs only YAML.
EXTRA_DIRS_ENV = "LAKEHOUSE_CONTRACTS_DIRS"


def contract_dirs() -> tuple[Path, ...]:
    extra = [Path(p) for p in os.environ.get(EXTRA_DIRS_ENV, "").split(os.pathsep) if p.strip()]
    return (CONTRACTS_DIR, *extra)


def source_files() -> list[Path]:
    return [p for d in contract_dirs() for p in sorted((d / "sources").glob("*/*.odcs.yaml"))]


def dataset_files() -> list[Path]:
    return [p for d in contract_dirs() for p in sorted((d / "datasets").glob("*.odcs.yaml"))]


def contracts_fingerprint() -> str:
    """SHA-256 over every contract file's path and text: what dbt's manifest was generated from (the DAG
    re-parses dbt when it changes; orchestration/dbt_task_group.py)."""
    digest = hashlib.sha256()
    for path in [*source_files(), *dataset_files()]:
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@cache
def _source_tables(dirs: tuple[Path, ...]) -> tuple[SourceTable, ...]:
    tables = tuple(parse_source(p) for p in source_files())
    seen: dict[str, Path] = {}
    for t in tables:
        if t.qualified_name in seen:
            raise ContractError(f"{t.contract_path}: {t.qualified_name} is also described by {seen[t.qualified_name]}")
        seen[t.qualified_name] = t.contract_path
    return tables


@cache
def _datasets(dirs: tuple[Path, ...]) -> tuple[Dataset, ...]:
    return tuple(parse_dataset(p) for p in dataset_files())


def source_tables() -> tuple[SourceTable, ...]:
    """Every source-table contract under sources/<sector>/ (of every contract folder)."""
    return _source_tables(contract_dirs())


def datasets() -> tuple[Dataset, ...]:
    """Every open-dataset contract under datasets/."""
    return _datasets(contract_dirs())


def direct_identifier_columns() -> set[str]:
    """Every column any source contract classifies as a direct identifier."""
    return {c.name for t in source_tables() for c in t.columns if c.classification == DIRECT_IDENTIFIER}


# Every direct identifier reaches silver only as its keyed HMAC-SHA-256 pseudonym: 64 hex digits.
PSEUDONYM_PATTERN = r"(?i)(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])"


def identifier_patterns() -> dict[str, str]:
    """Regular expressions (searched anywhere in a value) for the shapes of direct identifiers, from the
    source contracts' `identifierPattern` entries, plus the pseudonym every identifier becomes in silver."""
    patterns = {
        f"{c.name} ({t.qualified_name})": c.identifier_pattern
        for t in source_tables()
        for c in t.columns
        if c.classification == DIRECT_IDENTIFIER and c.identifier_pattern
    }
    by_pattern: dict[str, str] = {}
    for label, pattern in sorted(patterns.items()):  # one label per distinct pattern, e.g. citizen_id in 5 tables
        by_pattern.setdefault(pattern, label.split(" (")[0])
    return {label: pattern for pattern, label in by_pattern.items()} | {"pseudonym": PSEUDONYM_PATTERN}


def validate_all() -> list[str]:
    """Every problem in every contract file (empty = all valid); does not stop at the first file."""
    problems: list[str] = []
    for path in source_files():
        try:
            parse_source(path)
        except ContractError as exc:
            problems.extend(str(exc).splitlines())
    for path in dataset_files():
        try:
            parse_dataset(path)
        except ContractError as exc:
            problems.extend(str(exc).splitlines())
    return problems


def source_table(sector: str, table: str | None = None) -> SourceTable:
    """The contract for `sector.table` (or the sector's only table)."""
    found = [t for t in source_tables() if t.sector == sector and (table is None or t.table == table)]
    if len(found) != 1:
        known = ", ".join(t.qualified_name for t in source_tables())
        raise ContractError(f"no single source contract for {sector}.{table or '*'}; known: {known}")
    return found[0]


def dataset(name: str) -> Dataset:
    for d in datasets():
        if d.name == name:
            return d
    raise ContractError(f"no dataset contract named {name!r}; known: {', '.join(d.name for d in datasets())}")
