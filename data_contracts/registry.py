"""Load and validate the contracts in this folder with the open-data-contract-standard models.

Every stage asks this module what a table or dataset is; nothing else restates a schema.
Project settings live under ODCS `customProperties` (documented in README.md here).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from open_data_contract_standard.model import CustomProperty, OpenDataContractStandard
from pydantic import ValidationError

CONTRACTS_DIR = Path(__file__).resolve().parent
DIRECT_IDENTIFIER = "direct-identifier"


class ContractError(ValueError):
    """A contract is missing, invalid, or lacks a setting a stage needs."""


@dataclass(frozen=True)
class Column:
    name: str
    physical_type: str | None
    logical_type: str | None
    required: bool
    primary_key: bool
    classification: str | None
    description: str | None


@dataclass(frozen=True)
class SourceTable:
    """A table in a sector database, as its contract describes it."""

    contract_id: str
    contract_path: Path
    sector: str
    ministry: str
    server_type: str
    database: str
    db_schema: str | None
    table: str
    columns: tuple[Column, ...]
    partition_column: str | None
    watermark_column: str | None

    @property
    def qualified_name(self) -> str:
        return f"{self.sector}.{self.table}"

    @property
    def source_label(self) -> str:
        """Where rows came from, kept in bronze's `_source` audit column."""
        schema = f"{self.db_schema}." if self.db_schema else ""
        return f"{self.server_type}:{self.database}.{schema}{self.table}"

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise ContractError(f"contract {self.contract_id}: table {self.table} has no column {name!r}")

    def bronze_path(self, lake_root: Path) -> Path:
        return lake_root / "bronze" / self.sector / self.table


@dataclass(frozen=True)
class Dataset:
    """An open dataset in gold, published to CKAN."""

    contract_id: str
    contract_path: Path
    name: str
    version: str
    sector: str
    ministry: str
    title: str
    description: str
    usage: str | None
    limitations: str | None
    tags: tuple[str, ...]
    license_id: str
    frequency: str | None
    dbt_model: str
    min_cell_count: int
    count_column: str
    columns: tuple[Column, ...]

    def gold_path(self, lake_root: Path) -> Path:
        return lake_root / "gold" / self.name


def _custom(props: list[CustomProperty] | None) -> dict[str, Any]:
    return {p.property: p.value for p in props or [] if p.property}


def _columns(props: list[Any] | None) -> tuple[Column, ...]:
    return tuple(
        Column(
            name=p.name,
            physical_type=p.physicalType,
            logical_type=p.logicalType,
            required=bool(p.required),
            primary_key=bool(p.primaryKey),
            classification=p.classification,
            description=p.description,
        )
        for p in props or []
    )


def load(path: Path) -> OpenDataContractStandard:
    """Parse one contract file; errors name the file and the offending field."""
    try:
        return OpenDataContractStandard.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise ContractError(f"contract {path}: {exc}") from exc


def _require(custom: dict[str, Any], key: str, where: str) -> Any:
    if key not in custom or custom[key] in (None, ""):
        raise ContractError(f"contract {where}: customProperties.{key} is required")
    return custom[key]


def _source(path: Path) -> SourceTable:
    c = load(path)
    custom = _custom(c.customProperties)
    if not c.servers or not c.schema_:
        raise ContractError(f"contract {c.id} ({path}): a source contract needs servers and schema")
    server, obj = c.servers[0], c.schema_[0]
    table_custom = _custom(obj.customProperties)
    return SourceTable(
        contract_id=c.id,
        contract_path=path,
        sector=_require(custom, "sector", c.id),
        ministry=_require(custom, "ministry", c.id),
        server_type=server.type,
        database=server.database or "",
        db_schema=server.schema_,
        table=obj.physicalName or obj.name,
        columns=_columns(obj.properties),
        partition_column=table_custom.get("jdbcPartitionColumn"),
        watermark_column=table_custom.get("watermarkColumn"),
    )


def _dataset(path: Path) -> Dataset:
    c = load(path)
    custom = _custom(c.customProperties)
    if not c.schema_:
        raise ContractError(f"contract {c.id} ({path}): a dataset contract needs a schema")
    desc = c.description
    return Dataset(
        contract_id=c.id,
        contract_path=path,
        name=c.name or c.schema_[0].name,
        version=c.version,
        sector=_require(custom, "sector", c.id),
        ministry=_require(custom, "ministry", c.id),
        title=_require(custom, "ckanTitle", c.id),
        description=(desc.purpose if desc else None) or "",
        usage=desc.usage if desc else None,
        limitations=desc.limitations if desc else None,
        tags=tuple(c.tags or ()),
        license_id=_require(custom, "license", c.id),
        frequency=custom.get("frequency"),
        dbt_model=_require(custom, "dbtModel", c.id),
        min_cell_count=int(_require(custom, "minCellCount", c.id)),
        count_column=_require(custom, "countColumn", c.id),
        columns=_columns(c.schema_[0].properties),
    )


@cache
def source_tables() -> tuple[SourceTable, ...]:
    """Every source-table contract under sources/<sector>/."""
    return tuple(_source(p) for p in sorted((CONTRACTS_DIR / "sources").glob("*/*.odcs.yaml")))


@cache
def datasets() -> tuple[Dataset, ...]:
    """Every open-dataset contract under datasets/."""
    return tuple(_dataset(p) for p in sorted((CONTRACTS_DIR / "datasets").glob("*.odcs.yaml")))


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
