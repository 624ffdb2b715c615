"""Load and validate the contracts with the open-data-contract-standard models.

Every stage asks this module what a table or dataset is; nothing else restates a schema.
Project settings live under ODCS `customProperties` (documented in README.md here). Validation
collects every problem with the file, the path inside it and the fix.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from open_data_contract_standard.model import CustomProperty, OpenDataContractStandard
from pydantic import ValidationError

CONTRACTS_DIR = Path(__file__).resolve().parent
# More contract folders (same layout: sources/<sector>/*.odcs.yaml, datasets/*.odcs.yaml), separated
# by os.pathsep: a new sector or table needs only YAML.
EXTRA_DIRS_ENV = "LAKEHOUSE_CONTRACTS_DIRS"
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


class ContractError(ValueError):
    """A contract is missing, invalid, or lacks a setting a stage needs."""


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

    @property
    def qualified_name(self) -> str:
        return f"{self.sector}.{self.table}"

    @property
    def source_label(self) -> str:
        """Where rows came from, kept in bronze's `_source` audit column."""
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
        return lake_root / "bronze" / self.sector / self.table

    def quarantine_path(self, lake_root: Path) -> Path:
        return lake_root / "quarantine" / self.sector / self.table


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
    description_vi: str = ""
    theme: str = ""  # EU data-theme code (DCAT-AP), e.g. SOCI
    contact_name: str = ""
    contact_email: str = ""
    temporal_start: str = ""  # ISO date the data's coverage starts
    population: Population | None = None
    protection_interval: int = 0  # a suppressed cell keeps at least this many possible values (0: the threshold)
    not_quasi_identifiers: tuple[tuple[str, str], ...] = ()  # (column, reason) a microdata column is no QI
    zero_cells: str = "absent"  # absent: a combination with no unit has no row (the audit treats it as a known 0)

    @property
    def required_interval(self) -> int:
        """Possible values every suppressed cell must keep after the release-set audit."""
        return self.protection_interval or self.min_cell_count or self.k_anonymity or 0

    def disclosure_path(self, lake_root: Path) -> Path:
        """One-row summary dbt writes next to the dataset (primary / complementary suppression)."""
        return lake_root / "gold" / "_disclosure" / self.name

    def gold_path(self, lake_root: Path) -> Path:
        return lake_root / "gold" / self.name


# --- parsing ------------------------------------------------------------------------------------------


class _Problems:
    """Collects validation problems: file, path inside it, what is wrong and the fix."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.items: list[str] = []

    def add(self, where: str, what: str, fix: str) -> None:
        self.items.append(f"{self.path}: {where}: {what} -> fix: {fix}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ContractError("\n".join(self.items))


def _loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out.replace("schema_", "schema")


def load(path: Path) -> OpenDataContractStandard:
    """Parse one contract file; errors name the file and the offending path."""
    problems = _Problems(path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContractError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        raise ContractError(
            f"{path}: {where}: invalid YAML ({getattr(exc, 'problem', exc)}) -> fix: correct the syntax there"
        ) from exc
    if not isinstance(raw, dict):
        raise ContractError(f"{path}: top level: not a mapping -> fix: start from a contract in data_contracts/")
    try:
        return OpenDataContractStandard.model_validate(raw)
    except ValidationError as exc:
        for err in exc.errors():
            problems.add(_loc(err["loc"]), err["msg"], "see the ODCS v3 reference and data_contracts/README.md")
        problems.raise_if_any()
        raise  # unreachable


def _custom(props: list[CustomProperty] | None) -> dict[str, Any]:
    return {p.property: p.value for p in props or [] if p.property}


def _vi(props: list[CustomProperty] | None) -> str | None:
    return _custom(props).get("description_vi")


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
            description_vi=_vi(p.customProperties),
            unit=_custom(p.customProperties).get("unit"),
            identifier_pattern=_custom(p.customProperties).get("identifierPattern"),
            allowed_values=next(
                (
                    tuple(q.arguments["validValues"])
                    for q in p.quality or []
                    if q.metric == "invalidValues" and "validValues" in (q.arguments or {})
                ),
                (),
            ),
        )
        for p in props or []
    )


def _quality(props: list[Any], problems: _Problems) -> tuple[QualityRule, ...]:
    rules = []
    for i, p in enumerate(props):
        for j, q in enumerate(p.quality or []):
            where = f"schema[0].properties[{i}].quality[{j}]"
            name = q.name or f"{p.name}_{q.metric or q.type}"
            args = q.arguments or {}
            if q.type in (None, "library") and q.metric == "nullValues":
                rules.append(QualityRule(p.name, name, "not_null"))
            elif q.type in (None, "library") and q.metric == "invalidValues" and "validValues" in args:
                rules.append(QualityRule(p.name, name, "valid_values", values=tuple(args["validValues"])))
            elif q.type in (None, "library") and q.metric == "invalidValues" and "pattern" in args:
                try:
                    re.compile(args["pattern"])
                except re.error as exc:
                    problems.add(f"{where}.arguments.pattern", f"bad regular expression ({exc})", "fix the pattern")
                rules.append(QualityRule(p.name, name, "pattern", pattern=args["pattern"]))
            elif q.type == "custom" and (q.engine or "").lower() == "spark-sql" and q.implementation:
                rules.append(QualityRule(p.name, name, "expression", expression=str(q.implementation).strip()))
            else:
                problems.add(
                    where,
                    f"unsupported rule (type={q.type}, metric={q.metric})",
                    "use metric nullValues, metric invalidValues with validValues or pattern, "
                    "or type custom with engine spark-sql and a boolean implementation",
                )
    return tuple(rules)


def _policy(custom: dict[str, Any], names: set[str], problems: _Problems) -> IngestionPolicy:
    where = "schema[0].customProperties"

    def choice(key: str, allowed: tuple[str, ...], default: str) -> str:
        value = str(custom.get(key, default))
        if value not in allowed:
            problems.add(f"{where}.{key}", f"{value!r} is not one of {list(allowed)}", f"set {key} to one of them")
        return value

    def column(key: str) -> str | None:
        value = custom.get(key)
        if value is not None and value not in names:
            problems.add(f"{where}.{key}", f"column {value!r} is not a property of the table", "name a property")
        return value

    policy = IngestionPolicy(
        mode=choice("ingestionMode", INGESTION_MODES, "full"),
        watermark_column=column("watermarkColumn"),
        delete_detection=choice("deleteDetection", DELETE_DETECTION, "none"),
        soft_delete_column=column("softDeleteColumn"),
        partition_column=column("jdbcPartitionColumn"),
        partitions=int(custom.get("jdbcPartitions", 2)),
        drift_policy=choice("driftPolicy", DRIFT_POLICIES, "fail"),
        quarantine_threshold=float(custom.get("quarantineThreshold", 0.05)),
    )
    if policy.mode == "incremental" and not policy.watermark_column:
        problems.add(
            f"{where}.watermarkColumn", "incremental ingestion needs a watermark column", "set watermarkColumn"
        )
    if policy.delete_detection == "soft_delete" and not policy.soft_delete_column:
        problems.add(f"{where}.softDeleteColumn", "soft_delete needs the column", "set softDeleteColumn")
    if not 0 <= policy.quarantine_threshold <= 1:
        problems.add(f"{where}.quarantineThreshold", "must be a share between 0 and 1", "e.g. 0.05")
    if policy.partitions < 1:
        problems.add(f"{where}.jdbcPartitions", "must be >= 1", "e.g. 2 to 4 on 2 cores")
    return policy


def _source(path: Path) -> SourceTable:
    c = load(path)
    problems = _Problems(path)
    custom = _custom(c.customProperties)
    for key in ("sector", "ministry"):
        if not custom.get(key):
            problems.add(f"customProperties.{key}", "missing", f"add a customProperties entry for {key}")
    if not c.servers:
        problems.add("servers", "missing", "add the source server (type postgres or mysql, database)")
    if not c.schema_ or not c.schema_[0].properties:
        problems.add("schema", "a source contract needs one table with properties", "add schema[0].properties")
        problems.raise_if_any()
    assert c.schema_ is not None
    obj = c.schema_[0]
    props = obj.properties or []
    for i, p in enumerate(props):
        base = (p.physicalType or "").split("(")[0].strip().lower()
        if base not in PHYSICAL_TYPES:
            problems.add(
                f"schema[0].properties[{i}].physicalType",
                f"unknown type {p.physicalType!r} for column {p.name}",
                f"use one of {sorted(PHYSICAL_TYPES)}",
            )
        if p.classification not in CLASSIFICATIONS:
            problems.add(
                f"schema[0].properties[{i}].classification",
                f"{p.classification!r} on column {p.name}",
                f"classify every column as one of {list(CLASSIFICATIONS)}",
            )
        shape = _custom(p.customProperties).get("identifierPattern")
        if shape is not None:
            try:
                re.compile(str(shape))
            except re.error as exc:
                problems.add(
                    f"schema[0].properties[{i}].customProperties.identifierPattern",
                    f"bad regular expression ({exc})",
                    "fix the pattern (Python re, searched anywhere in a published value)",
                )
    if not any(p.primaryKey for p in props):
        problems.add("schema[0].properties", "no primary key", "mark the key column(s) with primaryKey: true")
    server = c.servers[0] if c.servers else None
    if server is not None and server.type not in ("postgres", "mysql"):
        problems.add("servers[0].type", f"unsupported {server.type!r}", "use postgres or mysql (MariaDB)")
    policy = _policy(_custom(obj.customProperties), {p.name for p in props}, problems)
    quality = _quality(props, problems)
    problems.raise_if_any()
    assert server is not None
    sla = {s.property: s.value for s in c.slaProperties or []}
    hours = {
        s.property: _hours(s.value, s.unit) for s in c.slaProperties or [] if s.property in ("freshness", "retention")
    }
    owner = c.team.name if c.team is not None and not isinstance(c.team, list) else None
    return SourceTable(
        contract_id=c.id,
        contract_path=path,
        sector=custom["sector"],
        ministry=custom["ministry"],
        server_type=server.type,
        database=server.database or "",
        db_schema=server.schema_,
        table=obj.physicalName or obj.name,
        columns=_columns(props),
        policy=policy,
        quality=quality,
        owner=owner,
        freshness=str(sla["freshness"]) if "freshness" in sla else None,
        frequency=str(sla["frequency"]) if "frequency" in sla else None,
        freshness_hours=hours.get("freshness"),
        retention_hours=hours.get("retention"),
        retries=int(sla.get("retries", 2)),
    )


UNIT_HOURS = {
    "h": 1,
    "hr": 1,
    "hour": 1,
    "hours": 1,
    "d": 24,
    "day": 24,
    "days": 24,
    "w": 168,
    "week": 168,
    "weeks": 168,
    "y": 8760,
    "yr": 8760,
    "year": 8760,
    "years": 8760,
}


def _hours(value: Any, unit: str | None) -> float | None:
    """An SLA duration in hours (ODCS value + unit; no unit = days)."""
    if value in (None, ""):
        return None
    factor = UNIT_HOURS.get((unit or "d").lower())
    if factor is None:
        raise ContractError(f"SLA unit {unit!r} -> fix: one of {', '.join(sorted(UNIT_HOURS))}")
    return float(value) * factor


def _require(custom: dict[str, Any], key: str, where: str) -> Any:
    if key not in custom or custom[key] in (None, ""):
        raise ContractError(f"{where}: customProperties.{key}: missing -> fix: add it (see data_contracts/README.md)")
    return custom[key]


POPULATION_KEYS = ("name", "unit", "protectedUnit", "countingRule")
COVERAGES = ("complete", "subset")


def _population(custom: dict[str, Any], columns: tuple[Column, ...], where: str) -> Population:
    raw = _require(custom, "population", where)
    missing = [k for k in POPULATION_KEYS if not (isinstance(raw, dict) and raw.get(k))]
    if missing:
        raise ContractError(
            f"{where}: customProperties.population: missing {', '.join(missing)} -> fix: declare what the dataset "
            "counts (see data_contracts/README.md, 'Populations')"
        )
    period, coverage = raw.get("period"), raw.get("coverage", "complete")
    if period is not None and period not in {c.name for c in columns}:
        raise ContractError(f"{where}: customProperties.population.period: {period!r} is not a column -> fix: name one")
    if coverage not in COVERAGES:
        raise ContractError(f"{where}: customProperties.population.coverage: {coverage!r} -> fix: one of {COVERAGES}")
    share = raw.get("dominanceShare")
    return Population(
        name=str(raw["name"]),
        unit=str(raw["unit"]),
        protected_unit=str(raw["protectedUnit"]),
        counting_rule=str(raw["countingRule"]),
        period=period,
        coverage=coverage,
        dominance_share=float(share) if share is not None else None,
    )


def _not_quasi_identifiers(props: list[Any], dimensions: tuple[str, ...], where: str) -> tuple[tuple[str, str], ...]:
    """Microdata: every published column is a quasi-identifier unless the contract says why not."""
    reasons = tuple((p.name, str(_custom(p.customProperties).get("notQuasiIdentifier", ""))) for p in props)
    unexplained = [name for name, why in reasons if name not in dimensions and not why]
    if unexplained:
        raise ContractError(
            f"{where}: columns {unexplained} are neither quasi-identifiers (customProperties.dimensions) nor "
            "explained -> fix: add them to dimensions, or give the column a customProperties "
            "notQuasiIdentifier entry saying why it identifies nobody"
        )
    return tuple((name, why) for name, why in reasons if why)


def _dataset(path: Path) -> Dataset:
    c = load(path)
    custom = _custom(c.customProperties)
    if not c.schema_:
        raise ContractError(f"{path}: schema: missing -> fix: list the dataset's columns")
    desc = c.description
    where = str(path)
    kind = custom.get("datasetKind", "aggregate")
    if kind not in ("aggregate", "microdata"):
        raise ContractError(f"{where}: customProperties.datasetKind: {kind!r} -> fix: aggregate or microdata")
    contacts = [x for x in c.support or [] if (x.url or "").startswith("mailto:")]
    if not contacts:
        raise ContractError(
            f"{where}: support: no email contact -> fix: add `support: [{{channel: <desk>, tool: email, "
            f"url: 'mailto:<address>'}}]` (the portal's contact point)"
        )
    columns = _columns(c.schema_[0].properties)
    dimensions = tuple(_require(custom, "dimensions", where))
    zero_cells = custom.get("zeroCells", "absent")
    if zero_cells != "absent":
        raise ContractError(f"{where}: customProperties.zeroCells: {zero_cells!r} -> fix: absent (the only policy)")
    return Dataset(
        contract_id=c.id,
        contract_path=path,
        name=c.name or c.schema_[0].name,
        version=c.version,
        sector=_require(custom, "sector", where),
        ministry=_require(custom, "ministry", where),
        title=_require(custom, "ckanTitle", where),
        description=(desc.purpose if desc else None) or "",
        usage=desc.usage if desc else None,
        limitations=desc.limitations if desc else None,
        tags=tuple(c.tags or ()),
        license_id=_require(custom, "license", where),
        frequency=custom.get("frequency"),
        dbt_model=_require(custom, "dbtModel", where),
        min_cell_count=int(_require(custom, "minCellCount", where)) if kind == "aggregate" else 0,
        count_column=_require(custom, "countColumn", where) if kind == "aggregate" else None,
        dimensions=dimensions,
        columns=columns,
        kind=kind,
        k_anonymity=int(_require(custom, "kAnonymity", where)) if kind == "microdata" else None,
        title_vi=_require(custom, "ckanTitleVi", where),
        description_vi=_require(custom, "descriptionVi", where),
        theme=_require(custom, "theme", where),
        contact_name=contacts[0].channel or "",
        contact_email=(contacts[0].url or "").removeprefix("mailto:"),
        temporal_start=str(_require(custom, "temporalCoverageStart", where)),
        population=_population(custom, columns, where),
        protection_interval=int(custom.get("protectionInterval", 0)),
        not_quasi_identifiers=(
            _not_quasi_identifiers(c.schema_[0].properties or [], dimensions, where) if kind == "microdata" else ()
        ),
        zero_cells=zero_cells,
    )


def contract_dirs() -> tuple[Path, ...]:
    extra = [Path(p) for p in os.environ.get(EXTRA_DIRS_ENV, "").split(os.pathsep) if p.strip()]
    return (CONTRACTS_DIR, *extra)


def source_files() -> list[Path]:
    return [p for d in contract_dirs() for p in sorted((d / "sources").glob("*/*.odcs.yaml"))]


def dataset_files() -> list[Path]:
    return [p for d in contract_dirs() for p in sorted((d / "datasets").glob("*.odcs.yaml"))]


@cache
def _source_tables(dirs: tuple[Path, ...]) -> tuple[SourceTable, ...]:
    tables = tuple(_source(p) for p in source_files())
    seen: dict[str, Path] = {}
    for t in tables:
        if t.qualified_name in seen:
            raise ContractError(f"{t.contract_path}: {t.qualified_name} is also described by {seen[t.qualified_name]}")
        seen[t.qualified_name] = t.contract_path
    return tables


@cache
def _datasets(dirs: tuple[Path, ...]) -> tuple[Dataset, ...]:
    return tuple(_dataset(p) for p in dataset_files())


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
            _source(path)
        except ContractError as exc:
            problems.extend(str(exc).splitlines())
    for path in dataset_files():
        try:
            _dataset(path)
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
