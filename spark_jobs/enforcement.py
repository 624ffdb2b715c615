"""Contract enforcement on a batch read from the source: the drift policy on its columns and types,
and the contract's row-level quality rules, which mark each failing row with its reasons."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from data_contracts import PHYSICAL_TYPES, ContractError, SourceTable
from data_contracts.quality import all_reasons
from lakehouse.core.errors import PermanentError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

log = logging.getLogger(__name__)
REASON = "_quarantine_reason"


class QualityThresholdExceeded(PermanentError):
    """Too many rows of a batch failed the contract's quality rules; bronze was not changed."""


def check_columns(found: list[tuple[str, str]], table: SourceTable) -> tuple[list[tuple[str, str]], list[str]]:
    """Apply the drift policy to the source's columns (name, type in Spark SQL's vocabulary, which every
    engine maps to): missing or retyped contract columns always fail; columns the contract lacks fail
    under `fail` and are kept (bronze evolves additively) under `evolve_additive`.

    Returns the columns to select as (source name, bronze name) and the new columns' names."""
    by_name = {name.lower(): (name, dtype) for name, dtype in found}
    problems = []
    for col in table.columns:
        if col.name.lower() not in by_name:
            problems.append(f"column {col.name} ({col.physical_type}) is missing in the source")
            continue
        actual = by_name[col.name.lower()][1].split("(")[0]
        if actual not in PHYSICAL_TYPES[col.base_type]:
            problems.append(
                f"column {col.name}: expected {col.physical_type} (one of {'/'.join(PHYSICAL_TYPES[col.base_type])}), "
                f"found {by_name[col.name.lower()][1]}"
            )
    known = {c.name.lower() for c in table.columns}
    extra = [by_name[k][0] for k in by_name if k not in known]
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
    selected = [(by_name[c.name.lower()][0], c.name) for c in table.columns]
    selected += [(name, name.lower()) for name in extra]
    return selected, [name.lower() for name in extra]


def with_quality(df: DataFrame, table: SourceTable) -> DataFrame:
    """(Spark) Adds `_quarantine_reason`: every failed rule of the row joined by '; ', NULL when clean (the SQL
    compiled once for every engine, data_contracts/quality.py)."""
    from pyspark.sql import functions as F

    return df.withColumn(REASON, F.expr(all_reasons(table.quality, "spark")))
