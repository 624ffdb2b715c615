"""Grants: which relations and columns each ministry reads through the SQL gateway, with masks and row
filters (data_contracts/access/ministries.yaml). Gold datasets are open to every ministry; bronze to
none. A relation is `<zone>.<name>`: gold.<dataset>, silver.<sector>_<entity>."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from data_contracts import ContractError, contract_dirs, datasets
from lakehouse.core import lake

MASKS = ("redact", "hash", "year")
ZONES = ("gold", "silver")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Grant:
    relation: str  # gold.population_by_province_age_sex, silver.health_insurance_cards
    columns: tuple[str, ...] | None  # None = every column
    mask: dict[str, str] = field(default_factory=dict)
    row_filter: str | None = None

    @property
    def zone(self) -> str:
        return self.relation.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.relation.split(".", 1)[1]

    def lake_path(self, lake_root: Path) -> Path:
        if self.zone == "gold":
            return lake.gold_path(lake_root, self.name)
        sector, entity = self.name.split("_", 1)
        return lake.silver_path(lake_root, sector, entity)


@dataclass(frozen=True)
class Ministry:
    name: str  # the login name
    title: str
    grants: tuple[Grant, ...]

    def grant(self, relation: str) -> Grant | None:
        return next((g for g in self.grants if g.relation == relation), None)


def access_file() -> Path:
    for d in reversed(contract_dirs()):  # an extra contracts folder may bring its own grants
        if (d / "access" / "ministries.yaml").exists():
            return d / "access" / "ministries.yaml"
    raise ContractError("no data_contracts/access/ministries.yaml: the SQL gateway has no grants")


def _grant(raw: dict[str, Any], where: str) -> Grant:
    relation = str(raw.get("relation", ""))
    zone, _, name = relation.partition(".")
    if zone not in ZONES or not NAME.match(name):
        raise ContractError(
            f"{where}.relation: {relation!r} -> fix: silver.<sector>_<entity> (bronze is never granted)"
        )
    columns = raw.get("columns", "*")
    if columns != "*" and not (isinstance(columns, list) and all(isinstance(c, str) for c in columns)):
        raise ContractError(f'{where}.columns: {columns!r} -> fix: "*" or a list of column names')
    mask = {str(k): str(v) for k, v in (raw.get("mask") or {}).items()}
    for column, kind in mask.items():
        if kind not in MASKS:
            raise ContractError(f"{where}.mask.{column}: {kind!r} -> fix: one of {', '.join(MASKS)}")
    return Grant(relation, None if columns == "*" else tuple(columns), mask, raw.get("row_filter"))


def ministries(path: Path | None = None) -> dict[str, Ministry]:
    """Every ministry with its grants; gold datasets are added for all."""
    path = path or access_file()
    raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    gold = tuple(Grant(f"gold.{d.name}", None) for d in datasets())
    out = {}
    for name, body in (raw.get("ministries") or {}).items():
        where = f"{path}: ministries.{name}"
        grants = tuple(_grant(g, f"{where}.read[{i}]") for i, g in enumerate(body.get("read") or []))
        named = {g.relation for g in grants}
        out[name] = Ministry(name, body.get("title", name), grants + tuple(g for g in gold if g.relation not in named))
    return out
