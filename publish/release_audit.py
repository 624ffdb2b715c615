"""The intruder's audit of the release set: what can be learnt from every table published, together.

Each dataset passes its own gate, but an intruder holds all of them and every earlier release. This
audit takes that position. The release set is the candidate build (every dataset's current gold table)
plus the release log (lakehouse/core/releases.py). From the dataset contracts' `population` it knows which
tables count the same units, and it checks:

- interval: a linear programme (HiGHS, through highspy) over the suppressed cells of every linked table. Its
  constraints are what the intruder can write down: present cells >= 1 (zero cells have no row, so an
  absent row is a known 0), published cells as constants, equal margins of tables of the same
  population over their shared dimensions (or bounds where one covers a subset, e.g. microdata, or
  counts per period), and cells an earlier release of the same data published. Every suppressed cell
  must keep at least the contract's protection interval of possible values (default: its threshold).
- relation: a declared link the published numbers contradict (the contracts or the tables are wrong).
- microdata: aggregate minus microdata rows, per cell, for microdata with withheld values: when the
  rows that lost the value are all one class, the difference places fewer than k of them in a cell.
- release difference: a published cell that changed by 1..threshold-1 since the last release that
  published it gives away the persons who arrived or left.

Findings fail the gate of every dataset they involve and are listed in its disclosure report.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import highspy
import numpy as np
import pyarrow as pa
from scipy.sparse import csc_matrix

from data_contracts import Dataset, datasets
from lakehouse.core import releases
from lakehouse.core.lake import read_table

Key = tuple[Any, ...]


@dataclass(frozen=True)
class PublishedTable:
    """One table the intruder holds: a candidate gold build or an earlier release."""

    dataset: Dataset
    version: int
    rows: pa.Table
    released: bool

    @property
    def label(self) -> str:
        return f"{self.dataset.name} v{self.version} ({'released' if self.released else 'candidate'})"


@dataclass(frozen=True)
class Finding:
    check: str  # interval | relation | microdata | release-difference
    dataset: str
    cell: str
    detail: str
    involved: tuple[str, ...]  # datasets whose release contributes (their gates fail too)

    def __str__(self) -> str:
        return f"{self.check}: {self.dataset} [{self.cell}]: {self.detail}"


@dataclass
class AuditResult:
    tables: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    suppressed_cells: int = 0
    lp_variables: int = 0
    lp_constraints: int = 0
    lp_solves: int = 0
    seconds: float = 0.0
    # dataset -> the suppressed cell with the fewest possible values left to an intruder
    smallest_interval: dict[str, dict[str, Any]] = field(default_factory=dict)
    linked: dict[str, set[str]] = field(default_factory=dict)  # dataset -> datasets of the same population
    earlier: dict[str, int] = field(default_factory=dict)  # dataset -> the previous release compared with

    @property
    def passed(self) -> bool:
        return not self.findings

    def findings_for(self, dataset: str) -> list[Finding]:
        return [f for f in self.findings if dataset in f.involved]

    def summary(self) -> dict[str, Any]:
        return {
            "tables": self.tables,
            "suppressed_cells": self.suppressed_cells,
            "lp_variables": self.lp_variables,
            "lp_constraints": self.lp_constraints,
            "lp_solves": self.lp_solves,
            "seconds": round(self.seconds, 3),
            "findings": len(self.findings),
        }

    def lines(self) -> list[str]:
        s = self.summary()
        out = [
            f"release set: {len(self.tables)} tables ({', '.join(self.tables)})",
            f"interval audit: {s['suppressed_cells']} suppressed cells, LP {s['lp_variables']} variables x "
            f"{s['lp_constraints']} constraints, {s['lp_solves']} solves (HiGHS), {s['seconds']} s",
        ]
        for name, cell in sorted(self.smallest_interval.items()):
            out.append(
                f"  {name}: smallest protection interval {cell['lower']}..{cell['upper']} "
                f"({cell['values']} possible values, {cell['required']} required) at {cell['cell']}"
            )
        out.append(f"findings: {len(self.findings)}")
        out += [f"  {f}" for f in self.findings]
        return out


# --- the release set -------------------------------------------------------------------------------------


def release_set(lake_root: Path, contracts: tuple[Dataset, ...] | None = None) -> tuple[list, dict, dict]:
    """(current, previous, history): per dataset the table about to be public (gold's current build, else
    its last release), the latest release older than it, and every release older than it (oldest first)."""
    current: list[PublishedTable] = []
    previous: dict[str, PublishedTable] = {}
    history: dict[str, list[PublishedTable]] = {}
    for d in contracts if contracts is not None else datasets():
        log = releases.released(lake_root, d.name)
        gold = d.gold_path(lake_root)
        if (gold / "_delta_log").exists():
            rows, version = read_table(gold)
            current.append(PublishedTable(d, version, rows, released=version in {r.gold_version for r in log}))
        elif log:
            current.append(PublishedTable(d, log[-1].gold_version, releases.read_release(lake_root, log[-1]), True))
        else:
            continue
        older = [r for r in log if r.gold_version < current[-1].version]
        if older:
            history[d.name] = [
                PublishedTable(d, r.gold_version, releases.read_release(lake_root, r), released=True) for r in older
            ]
            previous[d.name] = history[d.name][-1]
    return current, previous, history


def _dims(t: PublishedTable) -> list[str]:
    """The cell dimensions of an aggregate, the quasi-identifiers of microdata, as published."""
    return [d for d in t.dataset.dimensions if d in t.rows.column_names]


def _cells(t: PublishedTable) -> dict[Key, int | None]:
    """An aggregate's cells: key -> published count, None where suppressed."""
    dims, count = _dims(t), t.dataset.count_column
    cols = [t.rows[d].to_pylist() for d in dims]
    values = t.rows[count].to_pylist() if count in t.rows.column_names else [None] * t.rows.num_rows
    flags = t.rows["suppressed"].to_pylist() if "suppressed" in t.rows.column_names else [False] * t.rows.num_rows
    return {
        tuple(c[i] for c in cols): (None if flags[i] or values[i] is None else int(values[i]))
        for i in range(t.rows.num_rows)
    }


def _cell_label(dims: list[str], key: Key) -> str:
    return ", ".join(f"{d}={v}" for d, v in zip(dims, key, strict=True))


# --- the linear programme --------------------------------------------------------------------------------


class _System:
    """Linear constraints over the suppressed cells (variables) of linked tables."""

    def __init__(self) -> None:
        self.index: dict[tuple[str, Key], int] = {}
        self.where: list[tuple[PublishedTable, Key]] = []
        self.fixed: dict[int, int] = {}  # variable -> value an earlier release published
        self.rows: list[tuple[dict[int, float], str, float, str, tuple[str, ...]]] = []  # coefs, op, rhs, what, tables

    def var(self, t: PublishedTable, key: Key) -> int:
        ident = (t.dataset.name, key)
        if ident not in self.index:
            self.index[ident] = len(self.where)
            self.where.append((t, key))
        return self.index[ident]

    def add(
        self, lhs: tuple[dict[int, float], float], rhs: tuple[dict[int, float], float], op: str, what: tuple[str, ...]
    ) -> None:
        """lhs (op) rhs, each a (variables, constant) linear form; `what`: the link and the tables it joins."""
        coefs: dict[int, float] = defaultdict(float)
        for v, c in lhs[0].items():
            coefs[v] += c
        for v, c in rhs[0].items():
            coefs[v] -= c
        self.rows.append(({v: c for v, c in coefs.items() if c}, op, rhs[1] - lhs[1], what[0], what[1:]))


def _margin(t: PublishedTable, system: _System, shared: list[str]) -> dict[Key, tuple[dict[int, float], float]]:
    """Sum of an aggregate's cells per value of the shared dimensions, as linear forms."""
    dims = _dims(t)
    pos = [dims.index(d) for d in shared]
    out: dict[Key, tuple[dict[int, float], float]] = defaultdict(lambda: ({}, 0.0))
    for key, value in _cells(t).items():
        k = tuple(key[i] for i in pos)
        coefs, const = out[k]
        if value is None:
            coefs = {**coefs, system.var(t, key): 1.0}
        else:
            const += value
        out[k] = (coefs, const)
    return out


def _micro_margin(t: PublishedTable, shared: list[str]) -> dict[Key, tuple[dict[int, float], float]]:
    """Microdata rows per value of the shared columns (rows with a withheld value there are not counted)."""
    if not shared:
        return {(): ({}, float(t.rows.num_rows))}
    counts = t.rows.select(shared).drop_null().group_by(shared).aggregate([([], "count_all")]).to_pylist()
    return {tuple(r[c] for c in shared): ({}, float(r["count_all"])) for r in counts}


def _single_period(t: PublishedTable, period: str) -> bool:
    return len(set(t.rows[period].to_pylist())) <= 1


def _link(system: _System, a: PublishedTable, b: PublishedTable) -> None:
    """Constraints between two tables of the same population, on their shared dimensions."""
    pop = a.dataset.population
    assert pop is not None
    period = pop.period
    dims_a, dims_b = _dims(a), _dims(b)
    shared = [d for d in dims_a if d in dims_b]
    # The table counting per period is `a` when only one of them has the period dimension.
    if period and period in dims_b and period not in dims_a:
        a, b, dims_a, dims_b = b, a, dims_b, dims_a
    per_period = bool(period and period in dims_a and period not in dims_b)
    subset = {t.dataset.name for t in (a, b) if (t.dataset.population and t.dataset.population.coverage == "subset")}

    def margin(t: PublishedTable, cols: list[str]) -> dict[Key, tuple[dict[int, float], float]]:
        return _margin(t, system, cols) if t.dataset.kind == "aggregate" else _micro_margin(t, cols)

    what = (f"{a.dataset.name} ~ {b.dataset.name} on ({', '.join(shared) or 'total'})", a.dataset.name, b.dataset.name)
    if per_period and not _single_period(a, period):  # several periods: per period <= overall <= sum of periods
        by_period = margin(a, [*shared, period])
        overall_b = margin(b, shared)
        for key, form in by_period.items():
            if b.dataset.name not in subset and key[:-1] in overall_b:
                system.add(form, overall_b[key[:-1]], "<=", what)
        if a.dataset.name not in subset:
            summed = margin(a, shared)
            for key, form in overall_b.items():
                system.add(form, summed.get(key, ({}, 0.0)), "<=", what)
        return
    ma, mb = margin(a, shared), margin(b, shared)
    for key in set(ma) | set(mb):
        fa, fb = ma.get(key, ({}, 0.0)), mb.get(key, ({}, 0.0))
        if a.dataset.name in subset and b.dataset.name in subset:
            continue  # two subsets bound nothing
        if a.dataset.name in subset:
            system.add(fa, fb, "<=", what)
        elif b.dataset.name in subset:
            system.add(fb, fa, "<=", what)
        else:
            system.add(fa, fb, "==", what)


def _carry_over(system: _System, current: list[PublishedTable], previous: dict[str, PublishedTable]) -> None:
    """A cell suppressed now but published by the previous release is known, as long as every cell both
    publish still shows the same value (the intruder's fair guess: the data did not change)."""
    for t in current:
        before = previous.get(t.dataset.name)
        if t.dataset.kind != "aggregate" or before is None:
            continue
        now, then = _cells(t), _cells(before)
        both = [k for k in now if now[k] is not None and then.get(k) is not None]
        if both and all(now[k] == then[k] for k in both):
            for key, value in now.items():
                if value is None and then.get(key) is not None:
                    system.fixed[system.var(t, key)] = int(then[key])  # type: ignore[arg-type]


def _components(system: _System) -> list[tuple[list[int], list[int]]]:
    """Independent sub-problems: (variables, constraint rows) linked through shared constraints."""
    parent = list(range(len(system.where)))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for coefs, *_ in system.rows:
        vs = list(coefs)
        for v in vs[1:]:
            parent[find(v)] = find(vs[0])
    groups: dict[int, list[int]] = defaultdict(list)
    for v in range(len(system.where)):
        groups[find(v)].append(v)
    rows_of: dict[int, list[int]] = defaultdict(list)
    for i, (coefs, *_rest) in enumerate(system.rows):
        if coefs:
            rows_of[find(next(iter(coefs)))].append(i)
    return [(vs, rows_of.get(root, [])) for root, vs in groups.items()]


class _Programme:
    """One component's LP in HiGHS, built once and re-solved warm (only the objective changes) for the
    minimum and maximum of each cell: thousands of cells cost little more than one solve each."""

    def __init__(self, rows: list, local: dict[int, int], bounds: list[tuple[float, float]]) -> None:
        n, m = len(local), len(rows)
        data, ri, ci = [], [], []
        for r, (coefs, *_rest) in enumerate(rows):
            for v, c in coefs.items():
                data.append(c)
                ri.append(r)
                ci.append(local[v])
        matrix = csc_matrix((data, (ri, ci)), shape=(m, n))
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = n, m
        lp.col_cost_ = np.zeros(n)
        lp.col_lower_ = np.array([b[0] for b in bounds], dtype=float)
        lp.col_upper_ = np.array([b[1] for b in bounds], dtype=float)
        lp.row_lower_ = np.array([r[2] if r[1] == "==" else -highspy.kHighsInf for r in rows], dtype=float)
        lp.row_upper_ = np.array([r[2] for r in rows], dtype=float)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n, m
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = matrix.indptr, matrix.indices, matrix.data
        self.highs = highspy.Highs()
        self.highs.setOptionValue("output_flag", False)
        self.highs.setOptionValue("simplex_strategy", 4)  # primal: a new objective keeps the basis feasible
        self.highs.passModel(lp)
        self.solves = 0

    def feasible(self) -> bool:
        self.highs.run()
        self.solves += 1
        return self.highs.getModelStatus() == highspy.HighsModelStatus.kOptimal

    def extremes(self, columns: list[int], maximise: bool) -> list[float]:
        """Each cell's smallest (or largest) value over every table consistent with the release set. One
        objective sense for the whole pass, so each solve starts from the previous optimal basis."""
        h, out = self.highs, []
        h.changeObjectiveSense(highspy.ObjSense.kMaximize if maximise else highspy.ObjSense.kMinimize)
        for column in columns:
            h.changeColCost(column, 1.0)
            h.run()
            self.solves += 1
            status, value = h.getModelStatus(), float(h.getInfo().objective_function_value)
            h.changeColCost(column, 0.0)  # (this resets the solution info: read it first)
            if status in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
                out.append(float("inf") if maximise else float("-inf"))
            elif status == highspy.HighsModelStatus.kOptimal:
                out.append(value)
            else:
                raise RuntimeError(f"HiGHS ended with {status} on a feasible interval audit")
        return out


def _solve(system: _System, result: AuditResult) -> None:
    """Interval of every suppressed cell; findings where it is narrower than the contract allows."""
    for coefs, op, rhs, what, names in system.rows:  # constraints with no unknown: checked on the numbers
        if not coefs and ((op == "==" and abs(rhs) > 1e-9) or (op == "<=" and rhs < -1e-9)):
            result.findings.append(
                Finding("relation", names[0], what, f"published numbers break the declared link by {rhs:+g}", names)
            )
    for variables, rows in _components(system):
        local = {v: i for i, v in enumerate(variables)}
        fixed = {v: system.fixed[v] for v in variables if v in system.fixed}
        result.lp_variables += len(variables)
        result.lp_constraints += len(rows)
        # Every table whose numbers enter the component contributes to what it gives away.
        names = tuple(
            sorted({system.where[v][0].dataset.name for v in variables} | {n for i in rows for n in system.rows[i][4]})
        )
        programme = None
        if rows or fixed:
            programme = _programme(system, rows, local, variables, fixed)
            if not programme.feasible() and fixed:
                # The earlier release's values contradict this release: the data changed, and the intruder
                # learns that too, so the guess that it did not is dropped.
                result.lp_solves += programme.solves
                fixed = {}
                programme = _programme(system, rows, local, variables, fixed)
                programme.feasible()
            if programme.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                t, key = system.where[variables[0]]
                result.lp_solves += programme.solves
                result.findings.append(
                    Finding(
                        "relation",
                        t.dataset.name,
                        _cell_label(_dims(t), key),
                        "the linked tables' published numbers admit no value for their suppressed cells (declared "
                        f"links do not hold between {', '.join(names)})",
                        names,
                    )
                )
                continue
        # Cells public since an earlier release constrain the others; they have nothing left to hide.
        judged = [v for v in variables if v not in fixed]
        if programme is None:
            lows, highs = [1.0] * len(judged), [float("inf")] * len(judged)
        else:
            lows = programme.extremes([local[v] for v in judged], maximise=False)
            highs = programme.extremes([local[v] for v in judged], maximise=True)
        for v, low, high in zip(judged, lows, highs, strict=True):
            upper = high if high == float("inf") else float(np.floor(high + 1e-6))
            _judge(*system.where[v], float(np.ceil(low - 1e-6)), upper, names, result)
        if programme is not None:
            result.lp_solves += programme.solves


def _programme(
    system: _System, rows: list[int], local: dict[int, int], variables: list[int], fixed: dict[int, int]
) -> _Programme:
    """A component's LP: a present cell is at least 1 (zero cells have no row), or fixed by an earlier release."""
    bounds = [(fixed[v], fixed[v]) if v in fixed else (1.0, highspy.kHighsInf) for v in variables]
    return _Programme([system.rows[i] for i in rows], local, bounds)


def _judge(t: PublishedTable, key: Key, lower: float, upper: float, names: tuple, result: AuditResult) -> None:
    """Record the cell's interval; a finding when it leaves fewer possible values than the contract asks."""
    values = float("inf") if upper == float("inf") else upper - lower + 1
    required = t.dataset.required_interval
    cell = {
        "cell": _cell_label(_dims(t), key),
        "lower": int(lower),
        "upper": "inf" if upper == float("inf") else int(upper),
        "values": "inf" if values == float("inf") else int(values),
        "required": required,
    }
    best = result.smallest_interval.get(t.dataset.name)
    if best is None or best["values"] == "inf" or (values != float("inf") and values < best["values"]):
        result.smallest_interval[t.dataset.name] = cell
    if values < required:
        result.findings.append(
            Finding(
                "interval",
                t.dataset.name,
                cell["cell"],
                f"an intruder holding {', '.join(names)} knows this suppressed cell lies in "
                f"{cell['lower']}..{cell['upper']} ({cell['values']} possible values, the contract asks {required})",
                names,
            )
        )


# --- the other checks ------------------------------------------------------------------------------------


def _microdata_subtraction(micro: PublishedTable, agg: PublishedTable, result: AuditResult) -> None:
    """Aggregate minus the microdata rows that kept their values locates the rows that lost them."""
    k = micro.dataset.k_anonymity or 0
    mdims = [d for d in micro.dataset.dimensions if d in micro.rows.column_names]
    shared = [d for d in _dims(agg) if d in mdims]
    withheld = [d for d in shared if micro.rows[d].null_count]
    if not withheld:
        return
    coarse = [d for d in shared if d not in withheld]
    others = [d for d in mdims if d not in shared]
    rows = micro.rows.select(mdims).to_pylist()
    lost: dict[Key, set[Key]] = defaultdict(set)
    kept: dict[Key, int] = defaultdict(int)
    for r in rows:
        if any(r[d] is None for d in withheld):
            lost[tuple(r[d] for d in coarse)].add(tuple(r[d] for d in others))
        else:
            kept[tuple(r[d] for d in shared)] += 1
    margin = _margin(agg, _System(), shared)
    for key, (coefs, const) in margin.items():
        g = tuple(v for d, v in zip(shared, key, strict=True) if d in coarse)
        if coefs or g not in lost:
            continue
        extra = int(const) - kept.get(key, 0)
        if 0 < extra < k and len(lost[g]) == 1:
            cls = _cell_label(others, next(iter(lost[g])))
            result.findings.append(
                Finding(
                    "microdata",
                    micro.dataset.name,
                    _cell_label(shared, key),
                    f"{agg.dataset.name} minus the microdata rows places {extra} record(s) whose "
                    f"{', '.join(withheld)} was withheld, all of class ({cls}), in this cell (fewer than k={k})",
                    (micro.dataset.name, agg.dataset.name),
                )
            )


def _release_difference(t: PublishedTable, earlier: list[PublishedTable], result: AuditResult) -> None:
    """A published cell that moved by 1..threshold-1 since the last release that published it (an absent
    row published a 0) discloses the persons who arrived or left."""
    threshold = t.dataset.min_cell_count
    last: dict[Key, tuple[int, int]] = {}  # cell -> (value, version) as last published
    for release in earlier:
        cells = _cells(release)
        for key in set(last) | set(cells):
            value = cells.get(key, 0)
            if value is not None:
                last[key] = (value, release.version)
    now = _cells(t)
    for key in set(now) | set(last):
        a = now.get(key, 0)
        if a is None or key not in last:
            continue  # suppressed now: the interval audit covers it
        b, version = last[key]
        if 0 < abs(a - b) < threshold:
            result.findings.append(
                Finding(
                    "release-difference",
                    t.dataset.name,
                    _cell_label(_dims(t), key),
                    f"published {b} in v{version} and {a} in v{t.version}: the difference identifies "
                    f"{abs(a - b)} person(s) (fewer than {threshold})",
                    (t.dataset.name,),
                )
            )


def audit(lake_root: Path, contracts: tuple[Dataset, ...] | None = None) -> AuditResult:
    """Audit the release set in `lake_root` (current gold builds + the release log) as an intruder."""
    started = time.perf_counter()
    current, previous, history = release_set(lake_root, contracts)
    result = AuditResult(tables=[t.label for t in current] + [t.label for t in previous.values()])
    system = _System()
    groups: dict[str, list[PublishedTable]] = defaultdict(list)
    for t in current:
        if t.dataset.population is not None:
            groups[t.dataset.population.name].append(t)
        if t.dataset.kind == "aggregate":
            for key, value in _cells(t).items():
                if value is None:
                    system.var(t, key)  # every suppressed cell is audited, linked or not
    for members in groups.values():
        for t in members:
            result.linked[t.dataset.name] = {m.dataset.name for m in members} - {t.dataset.name}
        for a, b in itertools.combinations(members, 2):
            _link(system, a, b)
        for micro in (t for t in members if t.dataset.kind == "microdata"):
            for agg in (t for t in members if t.dataset.kind == "aggregate"):
                _microdata_subtraction(micro, agg, result)
    _carry_over(system, current, previous)
    result.earlier = {name: t.version for name, t in previous.items()}
    result.suppressed_cells = len(system.where)
    _solve(system, result)
    for t in current:
        if t.dataset.kind == "aggregate" and t.dataset.name in history:
            _release_difference(t, history[t.dataset.name], result)
    result.seconds = time.perf_counter() - started
    return result
