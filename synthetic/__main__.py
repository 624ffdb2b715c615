"""`python -m synthetic seed --scale 20000`: (re)create the synthetic sector databases the demo reads."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from lakehouse.core.settings import Settings
from synthetic.sectors import seed


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m synthetic", description=__doc__)
    sub = p.add_subparsers(dest="verb", required=True)
    s = sub.add_parser("seed", help="(re)create the synthetic sector databases (same arguments, same rows)")
    s.add_argument("--scale", type=int, default=20_000, help="citizens in the population registry")
    s.add_argument("--dirty-share", type=float, default=0.02, help="share of rows given a defect")
    s.add_argument("--seed", type=int, default=42)
    args = p.parse_args(argv)
    report = seed(Settings.from_env(), scale=args.scale, dirty_share=args.dirty_share, seed=args.seed)
    for name, rows in report.rows.items():
        print(f"seeded {name:<28} {rows:>8} rows ({report.dirty[name]} dirty)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
