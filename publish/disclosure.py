"""The disclosure gate every file passes before it leaves the lakehouse, and its report.

Checks, against the contracts: the columns are exactly the dataset contract's; no column is a
direct identifier of any source contract; no value looks like a citizen ID or phone number; every
published count is at or above the minimum cell count (smaller cells must be suppressed); no line of
cells (all dimensions fixed but one) holds exactly one suppressed cell, which its total would reveal;
dbt's disclosure summary exists and used the contract's threshold. The report (JSON + Markdown) is
published with the data; a failed report publishes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
    facts: dict[str, Any] = field(default_factory=dict)
    failed_checks: set[str] = field(default_factory=set)

    def fail(self, message: str) -> None:
        """Record a failure of the check added last."""
        self.failures.append(message)
        self.failed_checks.add(self.checks[-1])

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "rows": self.rows,
            "passed": self.passed,
            **self.facts,
            "checks": [{"check": c, "passed": c not in self.failed_checks} for c in self.checks],
            "failures": self.failures,
        }

    def markdown(self) -> str:
        f = self.facts
        lines = [
            f"# Disclosure report: {self.dataset}",
            "",
            f"**Result: {'PASSED' if self.passed else 'FAILED'}** (data committed {f.get('gold_committed_at', '?')})",
            "",
            f"- Contract: {f.get('contract')} v{f.get('contract_version')}",
            f"- Data: gold Delta version {f.get('gold_delta_version')}, {self.rows} rows",
            "- Built from: "
            + (", ".join(f"{k} v{v}" for k, v in (f.get("input_delta_versions") or {}).items()) or "unknown"),
            f"- Quasi-identifiers (dimensions): {', '.join(f.get('quasi_identifiers', []))}",
            *(
                [
                    f"- Rule: every quasi-identifier combination occurs at least k = {f.get('k_required')} times "
                    f"(achieved {f.get('k_achieved')}): {f.get('records_locally_suppressed')} records lost the "
                    f"province, {f.get('records_dropped')} were left out",
                ]
                if f.get("dataset_kind") == "microdata"
                else [
                    f"- Rule: counts below {f.get('min_cell_count')} suppressed (primary), then complementary "
                    "suppression so that no line of cells holds a single suppressed cell",
                    f"- Cells suppressed: {f.get('suppressed_primary')} primary, {f.get('suppressed_complementary')} "
                    f"complementary; smallest published count {f.get('smallest_published_count')}",
                ]
            ),
            "",
            "| check | result |",
            "|---|---|",
        ]
        lines += [f"| {c['check']} | {'pass' if c['passed'] else 'FAIL'} |" for c in self.as_dict()["checks"]]
        lines += [f"\nFailure: {x}" for x in self.failures]
        return "\n".join(lines) + "\n"

    @property
    def passed(self) -> bool:
        return not self.failures

    def raise_if_failed(self, report_path: Path | None = None) -> None:
        if self.failures:
            where = f"; report: {report_path}" if report_path else ""
            raise DisclosureError(
                f"dataset {self.dataset} failed the disclosure gate (check: {', '.join(sorted(self.failed_checks))})"
                f"; nothing published{where}: " + "; ".join(self.failures)
            )


def _lone_suppressed_lines(dataset: Dataset, table: pa.Table) -> list[str]:
    """Lines (every dimension fixed but one) of two or more cells with exactly one suppressed cell (a line
    of one cell is its own total: it gives nothing away that the cell does not)."""
    found = []
    for varying in dataset.dimensions:
        others = [d for d in dataset.dimensions if d != varying]
        if not others:
            continue
        lines = table.group_by(others).aggregate([("suppressed", "sum"), ("suppressed", "count")])
        lone = pc.and_(pc.equal(lines["suppressed_sum"], 1), pc.greater(lines["suppressed_count"], 1))
        for line in lines.filter(lone).to_pylist()[:3]:
            found.append(f"{varying} over {', '.join(f'{k}={line[k]}' for k in others)}")
    return found


def _check_microdata(
    dataset: Dataset, table: pa.Table, summary: dict[str, Any] | None, report: DisclosureReport
) -> DisclosureReport:
    """k-anonymity on the quasi-identifiers (a suppressed value, NULL, is a value of its own)."""
    k = dataset.k_anonymity or 0
    report.facts["k_required"] = k
    report.checks.append(f"k-anonymity: every quasi-identifier combination occurs >= {k} times")
    missing = [c for c in dataset.dimensions if c not in table.column_names]
    if missing:
        report.fail(f"quasi-identifier column(s) {missing} missing")
    elif table.num_rows:
        classes = table.group_by(list(dataset.dimensions)).aggregate([([], "count_all")])
        achieved = pc.min(classes["count_all"]).as_py()
        report.facts["k_achieved"] = achieved
        if achieved < k:
            report.fail(f"k achieved is {achieved}, the contract asks {k}")
    report.checks.append("disclosure summary from dbt present, with the contract's k")
    if summary is None:
        report.fail(f"no disclosure summary for {dataset.name}: run the transform (dbt build)")
    else:
        report.facts.update(
            {
                "records_locally_suppressed": summary["locally_suppressed"],
                "records_dropped": summary["records_dropped"],
            }
        )
        if summary["k_required"] < k:
            report.fail(f"dbt anonymised for k={summary['k_required']}, the contract asks {k}")
    return report


def check(
    dataset: Dataset, table: pa.Table, summary: dict[str, Any] | None = None, facts: dict[str, Any] | None = None
) -> DisclosureReport:
    """Run every check; the report lists what failed (empty failures = may be published).

    `summary` is dbt's one-row disclosure summary (primary / complementary counts); missing = failure.
    """
    report = DisclosureReport(dataset.name, table.num_rows, facts=dict(facts or {}))
    report.facts.update(
        {
            "contract": dataset.contract_id,
            "contract_version": dataset.version,
            "quasi_identifiers": list(dataset.dimensions),
            "min_cell_count": dataset.min_cell_count if dataset.kind == "aggregate" else None,
            "dataset_kind": dataset.kind,
        }
    )
    expected = [c.name for c in dataset.columns]
    report.checks.append("columns equal the dataset contract")
    if table.column_names != expected:
        report.fail(f"columns {table.column_names} differ from contract {dataset.contract_id}: {expected}")

    report.checks.append("no direct-identifier column")
    leaked = sorted(set(table.column_names) & direct_identifier_columns())
    if leaked:
        report.fail(f"direct-identifier column(s) present: {', '.join(leaked)}")

    report.checks.append("no value shaped like a citizen ID or phone number")
    for name in table.column_names:
        col = table[name]
        if not pa.types.is_string(col.type) and not pa.types.is_large_string(col.type):
            continue
        for label, pattern in IDENTIFIER_PATTERNS.items():
            hits = pc.sum(pc.cast(pc.match_substring_regex(col, pattern.pattern), pa.int64())).as_py() or 0
            if hits:
                report.fail(f"column {name}: {hits} value(s) look like a {label}")

    if dataset.kind == "microdata":
        return _check_microdata(dataset, table, summary, report)

    report.checks.append(f"every published {dataset.count_column} >= {dataset.min_cell_count}")
    if dataset.count_column not in table.column_names:
        report.fail(f"count column {dataset.count_column} missing")
    else:
        counts = table[dataset.count_column]
        small = pc.sum(pc.cast(pc.less(counts, dataset.min_cell_count), pa.int64())).as_py() or 0
        if small:
            report.fail(
                f"column {dataset.count_column}: {small} cell(s) below {dataset.min_cell_count} are not suppressed"
            )

    report.checks.append("no line of cells holds a single suppressed cell")
    if "suppressed" in table.column_names and dataset.dimensions:
        lone = _lone_suppressed_lines(dataset, table)
        if lone:
            report.fail(f"single suppressed cell recoverable from a total, e.g. {'; '.join(lone)}")

    report.checks.append("disclosure summary from dbt present, with the contract's threshold")
    if summary is None:
        report.fail(f"no disclosure summary for {dataset.name}: run the transform (dbt build)")
    else:
        report.facts.update(
            {
                "suppressed_primary": summary["primary_suppressed"],
                "suppressed_complementary": summary["complementary_suppressed"],
                "smallest_published_count": summary["smallest_published_count"],
            }
        )
        if summary["min_cell_count"] < dataset.min_cell_count:
            report.fail(f"dbt suppressed below {summary['min_cell_count']}, the contract asks {dataset.min_cell_count}")
    return report
