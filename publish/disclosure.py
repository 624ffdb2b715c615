"""The disclosure gate every file passes before it leaves the lakehouse.

Checks, against the contracts: the columns are exactly the dataset contract's; no column is a
direct identifier of any source contract; no value looks like a citizen ID or phone number; every
published count is at or above the minimum cell count (smaller cells must be suppressed).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from data_contracts import Dataset
from data_contracts.registry import direct_identifier_columns

# A CCCD number is 12 digits; Vietnamese mobile numbers are 10 digits starting with 0.
IDENTIFIER_PATTERNS = {"citizen ID": re.compile(r"^\d{12}$"), "phone number": re.compile(r"^0\d{9}$")}


class DisclosureError(RuntimeError):
    """The dataset failed the disclosure gate; nothing was published."""


@dataclass
class DisclosureReport:
    dataset: str
    rows: int
    failures: list[str] = field(default_factory=list)
    checks: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def raise_if_failed(self) -> None:
        if self.failures:
            raise DisclosureError(
                f"dataset {self.dataset} failed the disclosure gate; nothing published: " + "; ".join(self.failures)
            )


def check(dataset: Dataset, table: pa.Table) -> DisclosureReport:
    """Run every check; the report lists what failed (empty failures = may be published)."""
    report = DisclosureReport(dataset.name, table.num_rows)
    expected = [c.name for c in dataset.columns]
    report.checks.append("columns equal the dataset contract")
    if table.column_names != expected:
        report.failures.append(f"columns {table.column_names} differ from contract {dataset.contract_id}: {expected}")

    report.checks.append("no direct-identifier column")
    leaked = sorted(set(table.column_names) & direct_identifier_columns())
    if leaked:
        report.failures.append(f"direct-identifier column(s) present: {', '.join(leaked)}")

    report.checks.append("no value shaped like a citizen ID or phone number")
    for name in table.column_names:
        col = table[name]
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            continue
        for label, pattern in IDENTIFIER_PATTERNS.items():
            hits = pc.sum(pc.cast(pc.match_substring_regex(col, pattern.pattern), pa.int64())).as_py() or 0
            if hits:
                report.failures.append(f"column {name}: {hits} value(s) look like a {label}")

    report.checks.append(f"every published {dataset.count_column} >= {dataset.min_cell_count}")
    if dataset.count_column not in table.column_names:
        report.failures.append(f"count column {dataset.count_column} missing")
    else:
        counts = table[dataset.count_column]
        small = pc.sum(pc.cast(pc.less(counts, dataset.min_cell_count), pa.int64())).as_py() or 0
        if small:
            report.failures.append(
                f"column {dataset.count_column}: {small} cell(s) below {dataset.min_cell_count} are not suppressed"
            )
    return report
