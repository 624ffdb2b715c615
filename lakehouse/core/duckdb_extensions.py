"""DuckDB extensions from their PyPI wheels (duckdb-extension-*): no extension server is reachable here,
and the signed files in the wheels load offline. One lookup for the gateway, dbt and ingestion."""

from __future__ import annotations

import importlib
from pathlib import Path

# extension name -> the wheel's module (the -postgres/-mysql packages fail to load; the -scanner ones work)
WHEELS = {
    "delta": "duckdb_extension_delta",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "mysql_scanner": "duckdb_extension_mysql_scanner",
}


def extension_path(name: str) -> str:
    """The `.duckdb_extension` file of `name` (delta, postgres_scanner, mysql_scanner)."""
    module = importlib.import_module(WHEELS[name])
    found = sorted(Path(module.__file__ or "").parent.rglob("*.duckdb_extension"))
    if not found:
        raise RuntimeError(f"the {WHEELS[name]} wheel has no .duckdb_extension file; run make setup")
    return str(found[-1])
