"""Parse and validate ODCS v3 contract files (open-data-contract-standard's pydantic models) into the
project's model. Project settings live under ODCS `customProperties` (documented in README.md here).
Validation collects every problem with the file, the path inside it and the fix."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from open_data_contract_standard.model import CustomProperty, OpenDataContractStandard
from pydantic import ValidationError

from data_contracts.model import (
    ADMIN_LEVELS,
    CLASSIFICATIONS,
    CODE_SYSTEMS,
    DELETE_DETECTION,
    DIRECT_IDENTIFIER,
    DRIFT_POLICIES,
    INGESTION_MODES,
    MEASURES,
    PHYSICAL_TYPES,
    Column,
    ContractError,
    Dataset,
    IngestionPolicy,
    Population,
    QualityRule,
    SourceTable,
)


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
            person_key=bool(_custom(p.customProperties).get("personKey", False)),
            admin_unit=_custom(p.customProperties).get("adminUnit"),
            code_system=(
                str(_custom(p.customProperties)["codeSystem"]) if "codeSystem" in _custom(p.customProperties) else None
            ),
            code_list=_custom(p.customProperties).get("codeList"),
            code_list_key=_custom(p.customProperties).get("codeListKey"),
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


def _semantic_tags(props: list[Any], problems: _Problems) -> None:
    """The tags that generate staging and silver: one person key (a direct identifier), at most one
    administrative unit with its code system."""
    keys, units = [], []
    for i, p in enumerate(props):
        custom = _custom(p.customProperties)
        where = f"schema[0].properties[{i}].customProperties"
        if custom.get("personKey"):
            keys.append(p.name)
            if p.classification != DIRECT_IDENTIFIER:
                problems.add(f"{where}.personKey", f"{p.name} is not a {DIRECT_IDENTIFIER}", "classify it so")
        if "adminUnit" in custom:
            units.append(p.name)
            if custom["adminUnit"] not in ADMIN_LEVELS:
                problems.add(f"{where}.adminUnit", f"{custom['adminUnit']!r}", f"one of {list(ADMIN_LEVELS)}")
            if str(custom.get("codeSystem")) not in CODE_SYSTEMS:
                problems.add(
                    f"{where}.codeSystem",
                    f"{custom.get('codeSystem')!r}",
                    f"one of {list(CODE_SYSTEMS)} (with adminUnit)",
                )
            if custom["adminUnit"] == "district" and str(custom.get("codeSystem")) == "2025":
                problems.add(f"{where}.adminUnit", "the 2025 units have no districts", "use province or ward")
    if len(keys) > 1:
        problems.add("schema[0].properties", f"several person keys {keys}", "tag one column personKey")
    if len(units) > 1:
        problems.add("schema[0].properties", f"several administrative units {units}", "tag the finest one only")


def parse_source(path: Path) -> SourceTable:
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
    _semantic_tags(props, problems)
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
        silver_entity=_custom(obj.customProperties).get("silverEntity"),
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


def parse_dataset(path: Path) -> Dataset:
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
    measure = custom.get("measure") or {"kind": "count"}
    if not isinstance(measure, dict) or measure.get("kind") not in MEASURES:
        raise ContractError(
            f"{where}: customProperties.measure: {measure!r} -> fix: {{kind: count}} or "
            "{kind: sum, column: <silver column>, publishedAs: <gold column>}"
        )
    if measure["kind"] == "sum" and not (measure.get("column") and measure.get("publishedAs")):
        raise ContractError(f"{where}: customProperties.measure: a sum needs column and publishedAs -> fix: add them")
    source = custom.get("source")
    if source is not None and (not isinstance(source, str) or source.count(".") != 1):
        raise ContractError(f"{where}: customProperties.source: {source!r} -> fix: <sector>.<silver entity>")
    cells_model = custom.get("cellsModel")
    if kind == "microdata":
        _require(custom, "preparedModel", where)
        _require(custom, "suppressFirst", where)
    if kind == "aggregate" and not (source or cells_model):
        raise ContractError(
            f"{where}: customProperties: neither source nor cellsModel -> fix: name the silver entity the cells "
            "are counted from (source: <sector>.<entity>), or a hand-written cells model (cellsModel)"
        )
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
        tags_vi=tuple(str(t) for t in custom.get("tagsVi") or ()),
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
        source=source,
        measure=measure["kind"],
        measure_column=measure.get("column"),
        measure_as=measure.get("publishedAs"),
        cells_model=cells_model or (custom.get("preparedModel") if kind == "microdata" else None),
        disclosure_persons_column=custom.get("disclosurePersonsColumn"),
        disclosure_largest_column=custom.get("disclosureLargestColumn"),
        suppress_first=custom.get("suppressFirst"),
    )
