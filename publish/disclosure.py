"""The disclosure gate every file passes before it leaves the lakehouse, and its report.

Checks, against the contracts: the columns are exactly the dataset contract's; no column is a
direct identifier of any source contract; no value of any column, of any type, contains the shape of a
direct identifier (patterns from the source contracts: citizen IDs, card numbers, plates, phones in
every spelling, 64-hex pseudonyms); a cell is flagged suppressed exactly when its count is empty (a
missing `suppressed` column fails); every published count is at or above the minimum cell count; no
line of cells (all dimensions fixed but one) holds exactly one suppressed cell; dbt's disclosure summary
exists, used the contract's threshold and agrees with the table being published; and the release-set
audit (publish/release_audit.py: linked tables, microdata, earlier releases) found nothing involving
this dataset. The report (JSON + Markdown) is published with the data; a failed report publishes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from data_contracts import Dataset, direct_identifier_columns, identifier_patterns
from lakehouse.core.errors import PermanentError
from publish.release_audit import AuditResult

# The shapes of direct identifiers, from the source contracts (searched anywhere in a value).
IDENTIFIER_PATTERNS = {label: re.compile(pattern) for label, pattern in identifier_patterns().items()}


class DisclosureError(PermanentError):
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
            f"- Counted: {f.get('counting_rule')} (protected unit: {f.get('protected_unit')}); zero cells: "
            "no row (an absent combination is a known 0)",
            *(
                [
                    f"- Rule: every quasi-identifier combination holds at least k = {f.get('k_required')} persons "
                    f"(achieved {f.get('k_achieved')}): {f.get('records_locally_suppressed')} records lost a value, "
                    f"{f.get('records_dropped')} were left out",
                    f"- Risk: {f.get('sample_uniques')} sample uniques, largest individual risk "
                    f"{f.get('individual_risk_max')}, global risk {f.get('global_risk')} expected re-identifications "
                    f"per record; l-diversity of {f.get('l_diversity_attribute')} given the others: "
                    f"{f.get('l_diversity')} (pycanon)",
                ]
                if f.get("dataset_kind") == "microdata"
                else [
                    f"- Rule: counts below {f.get('min_cell_count')} (and unsafe cells) suppressed (primary), then "
                    "complementary suppression so that no line of cells holds a single suppressed cell",
                    f"- Cells suppressed: {f.get('suppressed_primary')} primary, {f.get('suppressed_complementary')} "
                    f"complementary of {f.get('cells')} ({f.get('units_suppressed')} {f.get('counting_unit')}s "
                    f"withheld); smallest published count {f.get('smallest_published_count')}",
                    "- Smallest protection interval (release-set audit): "
                    + _interval(f.get("smallest_protection_interval")),
                ]
            ),
            *(
                [
                    "- Release-set audit (every table of this run and every earlier release, LP with HiGHS): "
                    f"linked with {', '.join(a['linked_datasets']) or 'no other dataset'}; compared with the "
                    f"previous release v{a['earlier_releases_held']}"
                    if a.get("earlier_releases_held") is not None
                    else "- Release-set audit (every table of this run and every earlier release, LP with HiGHS): "
                    f"linked with {', '.join(a['linked_datasets']) or 'no other dataset'}; no earlier release"
                    for a in [f.get("release_audit")]
                    if a
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


def _interval(cell: dict[str, Any] | None) -> str:
    if not cell:
        return "no suppressed cell"
    return (
        f"{cell['lower']}..{cell['upper']} ({cell['values']} possible values, {cell['required']} required) "
        f"at {cell['cell']}"
    )


def _lone_suppressed_lines(dataset: Dataset, table: pa.Table) -> list[str]:
    """Lines (every dimension fixed but one) of two or more cells with exactly one suppressed cell (a line
    of one cell is left to the release-set audit, which knows whether another table gives its total)."""
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


def _identifier_values(table: pa.Table) -> list[str]:
    """Values of any column, of any type, that contain the shape of a direct identifier."""
    found = []
    for name in table.column_names:
        col = table[name]
        try:
            text = pc.unique(col if pa.types.is_string(col.type) else pc.cast(col, pa.string())).to_pylist()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            text = sorted({str(v) for v in col.to_pylist()})
        for label, pattern in IDENTIFIER_PATTERNS.items():
            hits = [v for v in text if v is not None and pattern.search(v)]
            if hits:
                found.append(f"column {name}: {len(hits)} distinct value(s) contain a {label} shape")
    return found


def _microdata_risk(dataset: Dataset, table: pa.Table) -> dict[str, Any]:
    """Re-identification risk of a full-population extract, as sdcMicro reports it: with f the size of a
    record's class, its individual risk is 1/f; the global risk is the expected share of records
    re-identified (classes / records); sample uniques are classes of one. l-diversity (pycanon) of the
    last quasi-identifier given the others says what the others reveal about it."""
    from pycanon import anonymity

    qi = list(dataset.dimensions)
    classes = table.group_by(qi).aggregate([([], "count_all")])["count_all"]
    frame = table.select(qi).to_pandas().fillna("*")  # a withheld value is a value of its own
    return {
        "sample_uniques": pc.sum(pc.cast(pc.equal(classes, 1), pa.int64())).as_py() or 0,
        "individual_risk_max": round(1 / (pc.min(classes).as_py() or 1), 4),
        "global_risk": round(len(classes) / table.num_rows, 4),
        "k_pycanon": int(anonymity.k_anonymity(frame, qi)),
        "l_diversity_attribute": qi[-1],
        "l_diversity": int(anonymity.l_diversity(frame, qi[:-1], [qi[-1]])),
    }


def _check_microdata(
    dataset: Dataset, table: pa.Table, summary: dict[str, Any] | None, report: DisclosureReport
) -> DisclosureReport:
    """k-anonymity on the quasi-identifiers (a withheld value, NULL, is a value of its own). Records of one
    person in a class would make it look larger: dbt counts persons (its summary), the gate checks that
    the records agree and that the contract makes every column but a row number a quasi-identifier."""
    k = dataset.k_anonymity or 0
    report.facts["k_required"] = k
    report.checks.append(f"k-anonymity: every quasi-identifier combination holds >= {k} persons")
    missing = [c for c in dataset.dimensions if c not in table.column_names]
    if missing:
        report.fail(f"quasi-identifier column(s) {missing} missing")
    elif table.num_rows:
        classes = table.group_by(list(dataset.dimensions)).aggregate([([], "count_all")])
        achieved = pc.min(classes["count_all"]).as_py()
        report.facts["k_achieved"] = achieved
        if achieved < k:
            report.fail(f"k achieved is {achieved} records, the contract asks {k}")
        report.facts.update(_microdata_risk(dataset, table))
    report.checks.append("locally_suppressed flag set exactly where a quasi-identifier is withheld")
    if "locally_suppressed" in table.column_names and not missing:
        withheld = pc.is_null(table[dataset.dimensions[0]])
        for d in dataset.dimensions[1:]:
            withheld = pc.or_(withheld, pc.is_null(table[d]))
        wrong = pc.sum(pc.cast(pc.not_equal(withheld, table["locally_suppressed"]), pa.int64())).as_py() or 0
        if wrong:
            report.fail(f"{wrong} record(s) whose locally_suppressed flag disagrees with their withheld values")
    report.checks.append("disclosure summary from dbt present, with the contract's k, and agrees with the table")
    if summary is None:
        report.fail(f"no disclosure summary for {dataset.name}: run the transform (dbt build)")
        return report
    report.facts.update(
        {
            "records_locally_suppressed": summary.get("locally_suppressed"),
            "records_dropped": summary.get("records_dropped"),
            "k_achieved": min(report.facts.get("k_achieved") or 0, summary.get("k_achieved") or 0)
            or report.facts.get("k_achieved"),
            "persons": summary.get("persons"),
        }
    )
    if summary.get("k_required", 0) < k:
        report.fail(f"dbt anonymised for k={summary.get('k_required')}, the contract asks {k}")
    if summary.get("k_achieved") is not None and summary["k_achieved"] < k:
        report.fail(f"dbt's smallest class holds {summary['k_achieved']} persons, the contract asks {k}")
    if summary.get("records") is not None and summary["records"] != table.num_rows:
        report.fail(f"dbt's summary counts {summary['records']} records, the table holds {table.num_rows}")
    if "locally_suppressed" in table.column_names and summary.get("locally_suppressed") is not None:
        flagged = pc.sum(pc.cast(table["locally_suppressed"], pa.int64())).as_py() or 0
        if flagged != summary["locally_suppressed"]:
            said = summary["locally_suppressed"]
            report.fail(f"dbt's summary reports {said} locally suppressed records, the table {flagged}")
    return report


def _check_flags(dataset: Dataset, table: pa.Table, report: DisclosureReport) -> None:
    """An aggregate cell is flagged suppressed exactly when its count is empty."""
    report.checks.append("suppressed flag set exactly where the count is empty")
    count = dataset.count_column
    if "suppressed" not in table.column_names:
        report.fail("column suppressed missing: nothing says which cells are withheld")
        return
    if count not in table.column_names:
        return
    flags, empty = table["suppressed"], pc.is_null(table[count])
    shown = pc.sum(pc.cast(pc.and_(pc.fill_null(flags, True), pc.invert(empty)), pa.int64())).as_py() or 0
    if shown:
        report.fail(f"{shown} cell(s) flagged suppressed (or unflagged) still show their {count}")
    hidden = pc.sum(pc.cast(pc.and_(pc.invert(pc.fill_null(flags, True)), empty), pa.int64())).as_py() or 0
    if hidden:
        report.fail(f"{hidden} empty {count} cell(s) not flagged suppressed")


def _reconcile(dataset: Dataset, table: pa.Table, summary: dict[str, Any], report: DisclosureReport) -> None:
    """dbt's summary describes the table being published: same cells, suppressions and smallest count."""
    count = dataset.count_column
    if "suppressed" not in table.column_names or count not in table.column_names:
        return
    suppressed = pc.sum(pc.cast(pc.fill_null(table["suppressed"], True), pa.int64())).as_py() or 0
    smallest = pc.min(table[count]).as_py()
    said = {
        "cells": (summary.get("cells"), table.num_rows),
        "suppressed cells": (
            (summary.get("primary_suppressed") or 0) + (summary.get("complementary_suppressed") or 0),
            suppressed,
        ),
        "smallest published count": (summary.get("smallest_published_count"), smallest),
    }
    for what, (dbt, published) in said.items():
        if dbt != published:
            report.fail(f"dbt's summary says {what} = {dbt}, the table being published has {published}")


def _audit_findings(dataset: Dataset, audit: AuditResult | None, report: DisclosureReport) -> None:
    report.checks.append("release-set audit: linked tables, microdata and earlier releases reveal no protected cell")
    if audit is None:
        report.fail("the release-set audit did not run")
        return
    # Stable facts only (no timings, no other tables' versions): an unchanged dataset re-publishes nothing.
    linked = sorted(audit.linked.get(dataset.name, ()))
    report.facts["release_audit"] = {
        "linked_datasets": linked,
        "earlier_releases_held": audit.earlier.get(dataset.name),
    }
    report.facts["smallest_protection_interval"] = audit.smallest_interval.get(dataset.name)
    mine = audit.findings_for(dataset.name)
    report.facts["release_audit_findings"] = [str(f) for f in mine]
    for f in mine[:20]:
        report.fail(str(f))
    if len(mine) > 20:
        report.fail(f"… and {len(mine) - 20} more release-set finding(s)")


def check(
    dataset: Dataset,
    table: pa.Table,
    summary: dict[str, Any] | None = None,
    facts: dict[str, Any] | None = None,
    audit: AuditResult | None = None,
) -> DisclosureReport:
    """Run every check; the report lists what failed (empty failures = may be published).

    `summary` is dbt's one-row disclosure summary (primary / complementary counts); missing = failure.
    `audit` is the release-set audit (publish/release_audit.py) of the set this table joins; missing =
    failure.
    """
    report = DisclosureReport(dataset.name, table.num_rows, facts=dict(facts or {}))
    pop = dataset.population
    report.facts.update(
        {
            "contract": dataset.contract_id,
            "contract_version": dataset.version,
            "quasi_identifiers": list(dataset.dimensions),
            "min_cell_count": dataset.min_cell_count if dataset.kind == "aggregate" else None,
            "dataset_kind": dataset.kind,
            "population": pop.name if pop else None,
            "counting_unit": pop.unit if pop else None,
            "protected_unit": pop.protected_unit if pop else None,
            "counting_rule": pop.counting_rule if pop else None,
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

    report.checks.append("no value of any column contains the shape of a direct identifier")
    for found in _identifier_values(table):
        report.fail(found)

    if dataset.kind == "microdata":
        _check_microdata(dataset, table, summary, report)
        _audit_findings(dataset, audit, report)
        return report

    _check_flags(dataset, table, report)

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

    report.checks.append("disclosure summary from dbt present, with the contract's threshold, agreeing with the table")
    if summary is None:
        report.fail(f"no disclosure summary for {dataset.name}: run the transform (dbt build)")
    else:
        report.facts.update(
            {
                "cells": summary.get("cells"),
                "suppressed_primary": summary.get("primary_suppressed"),
                "suppressed_complementary": summary.get("complementary_suppressed"),
                "units_suppressed": summary.get("units_suppressed"),
                "smallest_published_count": summary.get("smallest_published_count"),
                "smallest_published_persons": summary.get("smallest_published_persons"),
                "largest_published_share": summary.get("largest_published_share"),
            }
        )
        persons, share = summary.get("smallest_published_persons"), summary.get("largest_published_share")
        pop = dataset.population
        if persons is not None and persons < dataset.min_cell_count:
            report.fail(
                f"a published cell holds {persons} distinct {pop.protected_unit if pop else 'person'}(s), fewer than "
                f"{dataset.min_cell_count}: the threshold protects persons, not {pop.unit if pop else 'record'}s"
            )
        if share is not None and pop and pop.dominance_share is not None and share > pop.dominance_share:
            report.fail(
                f"one {pop.protected_unit} holds {share:.0%} of a published cell (dominance above "
                f"{pop.dominance_share:.0%})"
            )
        if summary.get("min_cell_count", 0) < dataset.min_cell_count:
            said = summary.get("min_cell_count")
            report.fail(f"dbt suppressed below {said}, the contract asks {dataset.min_cell_count}")
        _reconcile(dataset, table, summary, report)
    _audit_findings(dataset, audit, report)
    return report
