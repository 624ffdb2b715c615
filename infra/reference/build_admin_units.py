"""Build the administrative-unit reference seeds from the PyPI packages that publish them.

Pre-2025 official codes come from vietnam-provinces 0.6.0, post-reform (2025) official codes from
vietnam-provinces 2025.10.1, and the old -> new mapping (by names) from vietnam-address-converter
1.0.5. The releases cannot share a virtualenv, so this script reads their wheels' data files; the
generated CSVs are committed as dbt seeds (reference data is versioned with the code that uses it).

    python infra/reference/build_admin_units.py   # downloads the three wheels with pip, offline-safe
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import tempfile
import unicodedata
import zipfile
from collections import defaultdict
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[2] / "dbt_project" / "seeds" / "admin_units"
WHEELS = ("vietnam-provinces==0.6.0", "vietnam-provinces==2025.10.1", "vietnam-address-converter==1.0.5")
PREFIXES = r"^(thanh pho|tinh|quan|huyen|thi xa|phuong|xa|thi tran|dac khu)\s+"


def normalise(name: str) -> str:
    """Lower-case, strip diacritics and the unit-type prefix: 'Thành phố Hà Nội' -> 'ha noi'."""
    text = unicodedata.normalize("NFD", name.replace("Đ", "D").replace("đ", "d"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn").lower().strip()
    return re.sub(r"\s+", " ", re.sub(PREFIXES, "", text.replace("-", " "))).strip()


def _wheel_member(folder: Path, prefix: str, member: str) -> bytes:
    wheel = next(folder.glob(f"{prefix}*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        return zf.read(member)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for spec in WHEELS:
            subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "-d", tmp, spec], check=True)
        folder = Path(tmp)
        old = json.loads(
            _wheel_member(folder, "vietnam_provinces-0.6.0", "vietnam_provinces/data/nested-divisions.json")
        )
        new = json.loads(
            _wheel_member(folder, "vietnam_provinces-2025", "vietnam_provinces/data/nested-divisions.json")
        )
        module = _wheel_member(folder, "vietnam_address_converter", "vietnam_address_converter/data.py").decode()
    raw = module[module.index("json.loads(") + len("json.loads(") :]
    mapping = json.loads(eval(raw[: raw.index("')") + 1]))["mapping"]["rows"]  # noqa: S307 - a literal

    new_by_name = {normalise(p["name"]): p for p in new}
    old_to_new: dict[str, set[str]] = defaultdict(set)
    for row in mapping:
        old_to_new[row["keys"]["old_province_name"]].add(row["keys"]["new_province_name"])

    SEEDS.mkdir(parents=True, exist_ok=True)
    unmatched = []
    with open(SEEDS / "province_crosswalk_2025.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["legacy_province_code", "legacy_province_name", "province_code_2025", "province_name_2025"])
        for p in old:
            targets = old_to_new.get(normalise(p["name"]), set())
            if len(targets) != 1 or next(iter(targets)) not in new_by_name:
                unmatched.append(p["name"])
                continue
            target = new_by_name[next(iter(targets))]
            out.writerow([f"{p['code']:02d}", p["name"], f"{target['code']:02d}", target["name"]])
    with open(SEEDS / "legacy_wards.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["province_code", "province_name", "district_code", "district_name", "ward_code", "ward_name"])
        for p in old:
            for d in p["districts"]:
                for w in d["wards"]:
                    out.writerow(
                        [f"{p['code']:02d}", p["name"], f"{d['code']:03d}", d["name"], f"{w['code']:05d}", w["name"]]
                    )
    with open(SEEDS / "provinces_2025.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["province_code_2025", "province_name_2025"])
        for p in new:
            out.writerow([f"{p['code']:02d}", p["name"]])
    ward_stats = _ward_crosswalk(old, new, mapping)
    print(f"provinces matched {len(old) - len(unmatched)}/{len(old)}; unmatched: {unmatched or 'none'}")
    print(ward_stats)
    (SEEDS / "README.md").write_text(README.format(provinces=len(old) - len(unmatched), stats=ward_stats))


README = """# Administrative-unit seeds (generated: python infra/reference/build_admin_units.py)

Official codes: pre-2025 units from vietnam-provinces 0.6.0 (63 provinces, districts, wards); 2025 units
from vietnam-provinces 2025.10.1 (34 provinces, two-tier: province and ward). The old -> new mapping
comes from vietnam-address-converter 1.0.5, whose own code system differs from the official one
(e.g. Ha Noi is 11 there, 01 officially), so it is joined to both official lists BY NAME (lower case,
no diacritics, no unit-type prefix) and its codes are not used.

- province_crosswalk_2025.csv: legacy province -> 2025 province ({provinces}/63 matched). Provinces
  merged whole, so this is exact.
- ward_crosswalk_2025.csv: legacy ward -> 2025 ward. {stats}
  Split rule: when one old ward was divided among several new wards, the new ward that kept the old
  ward's name is chosen, else the new ward with the lowest official code; `mapping` says `split` so
  analyses can treat such records with care. Unmatched legacy wards are listed with `mapping`
  `unmatched` and no 2025 ward: the pipeline keeps and counts them, never drops them silently.
"""


def _ward_crosswalk(old: list[dict], new: list[dict], mapping: list[dict]) -> str:
    new_wards = {
        (normalise(p["name"]), normalise(w["name"])): (f"{p['code']:02d}", f"{w['code']:05d}", w["name"])
        for p in new
        for w in p["wards"]
    }
    targets: dict[tuple[str, str, str], list[tuple[str, str]]] = defaultdict(list)
    for row in mapping:
        k = row["keys"]
        targets[(k["old_province_name"], k["old_district_name"], k["old_ward_name"])].append(
            (k["new_province_name"], k["new_ward_name"])
        )
    counts = {"one_to_one": 0, "split": 0, "unmatched": 0}
    with open(SEEDS / "ward_crosswalk_2025.csv", "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(["legacy_ward_code", "province_code_2025", "ward_code_2025", "ward_name_2025", "mapping"])
        for p in old:
            for d in p["districts"]:
                for w in d["wards"]:
                    key = (normalise(p["name"]), normalise(d["name"]), normalise(w["name"]))
                    found = sorted({new_wards[t] for t in targets.get(key, []) if t in new_wards}, key=lambda x: x[1])
                    if not found:
                        counts["unmatched"] += 1
                        out.writerow([f"{w['code']:05d}", "", "", "", "unmatched"])
                        continue
                    same_name = [f for f in found if normalise(f[2]) == key[2]]
                    chosen = (same_name or found)[0]
                    kind = "one_to_one" if len(found) == 1 else "split"
                    counts[kind] += 1
                    out.writerow([f"{w['code']:05d}", chosen[0], chosen[1], chosen[2], kind])
    total = sum(counts.values())
    return (
        f"{total} legacy wards: {counts['one_to_one']} one-to-one, {counts['split']} split, "
        f"{counts['unmatched']} unmatched ({100 * (total - counts['unmatched']) / total:.1f}% matched)."
    )


if __name__ == "__main__":
    main()
