"""Contract enforcement on a batch read from the source: the drift policy on its columns and types,
and the contract's row-level quality rules, which mark each failing row with its reasons."""

from __future__ import annotations

import logging

from pyspark.sql import Column as SparkColumn
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from data_contracts import PHYSICAL_TYPES, ContractError, QualityRule, SourceTable
from data_contracts.quality import failing_condition
from lakehouse.core.errors import PermanentError

log = logging.getLogger(__name__)
REASON = "_quarantine_reason"


class QualityThresholdExceeded(PermanentError):
    """Too many rows of a batch failed the contract's quality rules; bronze was not changed."""


def check_columns(df: DataFrame, table: SourceTable) -> tuple[DataFrame, list[str]]:
    """Apply the drift policy: missing or retyped contract columns always fail; columns the contract
    lacks fail under `fail` and are kept (bronze evolves additively) under `evolve_additive`."""
    found = {name.lower(): (name, dtype) for name, dtype in df.dtypes}
    problems = []
    for col in table.columns:
        if col.name.lower() not in found:
            problems.append(f"column {col.name} ({col.physical_type}) is missing in the source")
            continue
        actual = found[col.name.lower()][1].split("(")[0]
        if actual not in PHYSICAL_TYPES[col.base_type]:
            problems.append(
                f"column {col.name}: expected {col.physical_type} (Spark {'/'.join(PHYSICAL_TYPES[col.base_type])}), "
                f"found {found[col.name.lower()][1]}"
            )
    known = {c.name.lower() for c in table.columns}
    extra = [found[k][0] for k in found if k not in known]
    if extra and table.policy.drift_policy == "fail":
        problems.append(f"new column(s) {', '.join(extra)} not in the contract (driftPolicy fail)")
    if problems:
        raise ContractError(
            f"schema drift in contract {table.contract_id}, table {table.source_label}: "
            + "; ".join(problems)
            + ". Update the contract (data_contracts/) or the source."
        )
    if extra:
        log.warning(
            "%s: new source column(s) %s ingested (driftPolicy evolve_additive); add them to %s",
            table.qualified_name,
            ", ".join(extra),
            table.contract_path,
        )
    selected = [F.col(found[c.name.lower()][0]).alias(c.name) for c in table.columns]
    selected += [F.col(name).alias(name.lower()) for name in extra]
    return df.select(*selected), [name.lower() for name in extra]


def _rule_fails(rule: QualityRule) -> SparkColumn:
    """The rule's failing condition as compiled once for every engine (data_contracts/quality.py)."""
    return F.expr(failing_condition(rule, "spark"))


def with_quality(df: DataFrame, table: SourceTable) -> DataFrame:
    """Adds `_quarantine_reason`: every failed rule of the row joined by '; ', NULL when clean."""
    if not table.quality:
        return df.withColumn(REASON, F.lit(None).cast("string"))
    reasons = [F.when(_rule_fails(r), F.lit(r.reason)) for r in table.quality]
    reason = F.concat_ws("; ", *reasons)
    return df.withColumn(REASON, F.when(reason != "", reason))
