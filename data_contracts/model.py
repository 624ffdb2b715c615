"""What a contract says, as frozen dataclasses every stage reads: source tables, their columns, ingestion
policy and quality rules; open datasets and the population they count. Parsing lives in odcs.py,
finding the contract files in discovery.py."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakehouse.core import lake
from lakehouse.core.errors import PermanentError

DIRECT_IDENTIFIER = "direct-identifier"
CLASSIFICATIONS = ("direct-identifier", "quasi-identifier", "sensitive", "personal", "internal", "public")
# Physical types a source contract may use -> the Spark SQL types a JDBC read may yield for them.
PHYSICAL_TYPES: dict[str, tuple[str, ...]] = {
    "bigint": ("bigint",),
    "integer": ("int", "bigint"),
    "int": ("int", "bigint"),
    "smallint": ("smallint", "int"),
    "varchar": ("string",),
    "char": ("string",),
    "text": ("string",),
    "date": ("date",),
    "timestamp": ("timestamp",),
    "datetime": ("timestamp",),
    "boolean": ("boolean",),
    "double": ("double",),
    "numeric": ("decimal",),
    "decimal": ("decimal",),
}
INGESTION_MODES = ("full", "incremental")
DELETE_DETECTION = ("none", "soft_delete", "snapshot")
DRIFT_POLICIES = ("fail", "evolve_additive")
ADMIN_LEVELS = ("province", "district", "ward")
CODE_SYSTEMS = ("legacy", "2025")  # legacy: official codes before the 2025 reform
MEASURES = ("count", "sum")


class ContractError(PermanentError, ValueError):
    """A contract is missing, invalid, or lacks a setting a stage needs (a retry will not help)."""


@dataclass(frozen=True)
class QualityRule:
    """A row-level rule checked at ingestion; failing rows go to quarantine with `reason`."""

    column: str
    name: str
    kind: str  # not_null | valid_values | pattern | expression
    values: tuple[Any, ...] = ()
    pattern: str | None = None
    expression: str | None = None  # Spark SQL boolean that valid rows satisfy

    @property
    def reason(self) -> str:
        detail = {
            "not_null": "is NULL",
            "valid_values": f"not in {list(self.values)}",
            "pattern": f"does not match {self.pattern}",
            "expression": f"fails {self.expression}",
        }[self.kind]
        return f"{self.name}: {self.column} {detail}"


@dataclass(frozen=True)
class Column:
    name: str
    physical_type: str | None
    logical_type: str | None
    required: bool
    primary_key: bool
    classification: str | None
    description: str | None
    description_vi: str | None = None
    unit: str | None = None
    allowed_values: tuple[Any, ...] = ()
    identifier_pattern: str | None = None  # direct identifiers: the shape of a value, searched by the gate
    # Semantic tags (customProperties) that generate staging and silver: see data_contracts/README.md.
    person_key: bool = False  # the person's ID: silver keeps only its keyed pseudonym (person_pseudonym)
    admin_unit: str | None = None  # province | district | ward: mapped to the 2025 units
    code_system: str | None = None  # legacy (pre-2025 official codes) | 2025
    code_list: str | None = None  # a seed in dbt_project/seeds/code_lists joined for labels
    code_list_key: str | None = None  # the seed's key column (default: the column's name)

    @property
    def base_type(self) -> str:
        """'varchar(12)' -> 'varchar'."""
        return (self.physical_type or "").split("(")[0].strip().lower()


@dataclass(frozen=True)
class IngestionPolicy:
    mode: str = "full"
    watermark_column: str | None = None
    delete_detection: str = "none"
    soft_delete_column: str | None = None
    partition_column: str | None = None
    partitions: int = 2
    drift_policy: str = "fail"
    quarantine_threshold: float = 0.05


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
    policy: IngestionPolicy = field(default_factory=IngestionPolicy)
    quality: tuple[QualityRule, ...] = ()
    owner: str | None = None
    freshness: str | None = None
    frequency: str | None = None  # SLA frequency: the ingestion DAG's schedule (daily, hourly, …)
    freshness_hours: float | None = None  # older bronze than this is flagged by the maintenance DAG
    retention_hours: float | None = None  # Delta history kept by vacuum
    retries: int = 2  # retries of a transient failure (source down)
    silver_entity: str | None = None  # set: staging and silver/<sector>/<entity> are generated from the tags

    @property
    def person_key(self) -> Column | None:
        return next((c for c in self.columns if c.person_key), None)

    @property
    def admin_unit(self) -> Column | None:
        return next((c for c in self.columns if c.admin_unit), None)

    @property
    def qualified_name(self) -> str:
        return f"{self.sector}.{self.table}"

    @property
    def source_label(self) -> str:
        """Where rows came from, recorded in each bronze commit's metadata."""
        schema = f"{self.db_schema}." if self.db_schema else ""
        return f"{self.server_type}:{self.database}.{schema}{self.table}"

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.primary_key)

    @property
    def partition_column(self) -> str | None:
        return self.policy.partition_column

    @property
    def watermark_column(self) -> str | None:
        return self.policy.watermark_column

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise ContractError(f"contract {self.contract_id}: table {self.table} has no column {name!r}")

    def bronze_path(self, lake_root: Path) -> Path:
        return lake.bronze_path(lake_root, self.sector, self.table)

    def quarantine_path(self, lake_root: Path) -> Path:
        return lake.quarantine_path(lake_root, self.sector, self.table)


@dataclass(frozen=True)
class Population:
    """What a dataset counts, so the disclosure audit knows which published tables are linked.

    Datasets with the same `name` count the same units: their margins over shared dimensions are equal
    (an intruder subtracts one from the other). `period` is the dimension a unit is counted once per
    (school_year: a pupil is counted again each year); a table without it is linked to one with it on
    equality only while a single period is published, otherwise as a lower bound. A `subset` coverage
    (microdata that drops records) gives lower bounds on the complete tables."""

    name: str
    unit: str  # what one counted record is: person, vehicle, …
    protected_unit: str  # whose privacy the threshold protects (vehicles: their owners)
    counting_rule: str  # in words, for the report and the README
    period: str | None = None
    coverage: str = "complete"  # complete | subset
    dominance_share: float | None = None  # a cell where one protected unit holds more than this share is unsafe


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
    count_column: str | None
    dimensions: tuple[str, ...]  # quasi-identifiers: cell dimensions (aggregate) or generalised columns (microdata)
    columns: tuple[Column, ...]
    kind: str = "aggregate"  # aggregate | microdata
    k_anonymity: int | None = None
    title_vi: str = ""
    tags_vi: tuple[str, ...] = ()  # keywords in Vietnamese (tagsVi)
    description_vi: str = ""
    theme: str = ""  # EU data-theme code (DCAT-AP), e.g. SOCI
    contact_name: str = ""
    contact_email: str = ""
    temporal_start: str = ""  # ISO date the data's coverage starts
    population: Population | None = None
    protection_interval: int = 0  # a suppressed cell keeps at least this many possible values (0: the threshold)
    not_quasi_identifiers: tuple[tuple[str, str], ...] = ()  # (column, reason) a microdata column is no QI
    zero_cells: str = "absent"  # absent: a combination with no unit has no row (the audit treats it as a known 0)
    # What generates the dataset's models (data_contracts/README.md, "Datasets generate gold"):
    source: str | None = None  # silver entity `<sector>.<entity>` the generated cells count from
    measure: str = "count"  # count (distinct persons, in count_column) | sum (of measure_column, plus the count)
    measure_column: str | None = None  # sum: the silver column summed
    measure_as: str | None = None  # sum: the gold column it is published as
    cells_model: str | None = None  # a hand-written cells model (gold wrapper and disclosure still generated)
    disclosure_persons_column: str | None = None  # hand-written cells: distinct protected units per cell
    disclosure_largest_column: str | None = None  # hand-written cells: the largest unit's share numerator
    suppress_first: str | None = None  # microdata: the quasi-identifier withheld first to reach k

    @property
    def generated_cells(self) -> bool:
        return self.kind == "aggregate" and self.cells_model is None and self.source is not None

    @property
    def required_interval(self) -> int:
        """Possible values every suppressed cell must keep after the release-set audit."""
        return self.protection_interval or self.min_cell_count or self.k_anonymity or 0

    def disclosure_path(self, lake_root: Path) -> Path:
        """One-row summary dbt writes next to the dataset (primary / complementary suppression)."""
        return lake.disclosure_path(lake_root, self.name)

    def gold_path(self, lake_root: Path) -> Path:
        return lake.gold_path(lake_root, self.name)
