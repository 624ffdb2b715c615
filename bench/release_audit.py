"""The release-set disclosure audit on a large synthetic release set. Last line: seconds, cells, LP size.

    .venv-data/bin/python -m bench.release_audit --citizens 1000000 --units 34

Gold tables shaped by the real dataset contracts (enrolment by unit x school year x level, pupils by unit
x insurance status, enrolment microdata) are drawn for `--citizens` people spread over `--units`
geographic units with skewed sizes (34 = the provinces; more units = many small cells, a large LP), then
suppressed (primary below 10, complementary per line, as dbt does) and written as Delta tables with an
earlier release of the same numbers in the release log. The audit then runs as the publisher's gate does.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from data_contracts import Dataset, dataset
from lakehouse.core import commit, releases
from publish.release_audit import audit

YEARS = ("2025-2026", "2026-2027")
LEVELS = ("primary", "lower_secondary", "upper_secondary")
AGES = {"primary": ("05-09", "10-14"), "lower_secondary": ("10-14", "15-19"), "upper_secondary": ("15-19",)}


def _suppress(cells: dict[tuple, int], threshold: int = 10) -> dict[tuple, int | None]:
    """Primary suppression below the threshold, then complementary until no line holds a lone one."""
    hidden = {k for k, v in cells.items() if v < threshold}
    dims = len(next(iter(cells)))
    changed = True
    while changed:
        changed = False
        for d in range(dims):
            lines: dict[tuple, list[tuple]] = {}
            for k in cells:
                lines.setdefault(k[:d] + k[d + 1 :], []).append(k)
            for members in lines.values():
                if len(members) > 1 and sum(k in hidden for k in members) == 1:
                    hidden.add(min((k for k in members if k not in hidden), key=lambda k: cells[k]))
                    changed = True
    return {k: (None if k in hidden else v) for k, v in cells.items()}


def _table(ds: Dataset, cells: dict[tuple, int | None]) -> pa.Table:
    keys = list(cells)
    cols: dict[str, list] = {}
    for c in ds.columns:
        if c.name in ds.dimensions:
            cols[c.name] = [k[ds.dimensions.index(c.name)] for k in keys]
        elif c.name == ds.count_column:
            cols[c.name] = list(cells.values())
        elif c.name == "suppressed":
            cols[c.name] = [v is None for v in cells.values()]
        else:
            cols[c.name] = ["label"] * len(keys)
    return pa.table(cols)


def _release_set(lake: Path, citizens: int, units: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, units + 1) ** 1.1
    weights /= weights.sum()
    pupils = rng.multinomial(int(citizens * 0.2), weights)
    enrolment: dict[tuple, int] = {}
    by_unit: dict[tuple, int] = {}
    micro: list[tuple] = []
    for u, n in enumerate(pupils):
        code = f"{u:05d}"
        per_level = rng.multinomial(n, [0.45, 0.33, 0.22])
        insured = rng.binomial(n, 0.85)
        for status, count in (("insured", insured), ("not_insured", n - insured)):
            if count:
                by_unit[(code, status)] = int(count)
        for level, m in zip(LEVELS, per_level, strict=True):
            if m:  # one school year holds every pupil: the years split a level's pupils
                first = rng.binomial(m, 0.5)
                for year, c in ((YEARS[0], first), (YEARS[1], m - first)):
                    if c:
                        enrolment[(code, year, level)] = int(c)
                        micro += [(year, level, AGES[level][0], "female")] * c
    tables = {
        "enrolment_by_province_school_level": _suppress(enrolment),
        "pupils_by_province_insurance": _suppress(by_unit),
    }
    for name, cells in tables.items():
        ds = dataset(name)
        table = _table(ds, cells)
        commit.overwrite(ds.gold_path(lake), table)
        releases.record(lake, name, 0, table)  # an earlier release of the same numbers
    rows = list(zip(*micro, strict=True))
    micro_table = pa.table(
        {
            "record_no": pa.array(range(1, len(micro) + 1), pa.int64()),
            "school_year": rows[0],
            "school_level": rows[1],
            "age_band": rows[2],
            "sex": rows[3],
            "locally_suppressed": [False] * len(micro),
        }
    )
    commit.overwrite(dataset("enrolment_microdata").gold_path(lake), micro_table)
    return sum(len(c) for c in tables.values())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--citizens", type=int, default=1_000_000)
    ap.add_argument("--units", type=int, default=34, help="geographic units: 34 provinces; e.g. 1000 for a stress LP")
    ap.add_argument("--seed", type=int, default=7)
    opts = ap.parse_known_args()[0]  # run.sh passes every benchmark the same options
    names = ("enrolment_by_province_school_level", "pupils_by_province_insurance", "enrolment_microdata")
    contracts = tuple(dataset(n) for n in names)
    with tempfile.TemporaryDirectory() as tmp:
        lake = Path(tmp) / "lake"
        started = time.perf_counter()
        cells = _release_set(lake, opts.citizens, opts.units, opts.seed)
        built = time.perf_counter() - started
        result = audit(lake, contracts)
    s = result.summary()
    print(f"{opts.citizens} citizens over {opts.units} units: {cells} cells, built in {built:.1f} s")
    print("\n".join(result.lines()[1:4]))
    print(
        f"release-set audit: {s['seconds']:.2f} s for {cells} cells, {s['suppressed_cells']} suppressed, "
        f"LP {s['lp_variables']} variables x {s['lp_constraints']} constraints, {s['lp_solves']} HiGHS solves, "
        f"{s['findings']} findings"
    )


if __name__ == "__main__":
    main()
