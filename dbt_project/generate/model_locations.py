"""Where each hand-written Delta model is written, from its name and lakehouse.core.lake."""

from __future__ import annotations

import re
from pathlib import Path

from dbt_project.generate.files import GENERATED
from lakehouse.core import lake

# --- where Delta models are written --------------------------------------------------------------


def hand_written(project: Path) -> dict[str, Path]:
    models = project / "models"
    return {p.stem: p for p in models.rglob("*.sql") if GENERATED not in p.relative_to(models).parts[:1]}


DELTA = re.compile(r"materialized\s*=\s*['\"]delta['\"]")
INT_NAME = re.compile(r"^int_(?P<sector>[a-z0-9_]+?)__(?P<entity>[a-z0-9_]+)$")


def locations(project: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, path in hand_written(project).items():
        match = INT_NAME.match(name)
        if not match or not DELTA.search(path.read_text(encoding="utf-8")):
            continue
        sector, entity = match["sector"], match["entity"]
        if entity.endswith("_quarantine"):
            out[name] = lake.relative("quarantine", sector, entity.removesuffix("_quarantine"))
        else:
            out[name] = lake.relative("silver", sector, entity)
    return dict(sorted(out.items()))


def locations_macro(locations: dict[str, str]) -> str:
    pairs = ",\n".join(f"    '{model}': '{where}'" for model, where in locations.items())
    return (
        "{# Where each hand-written Delta model is written, relative to LAKE_ROOT (from lakehouse.core.lake):\n"
        "   `{{ config(materialized='delta', location=lake_location(this)) }}`. #}\n"
        "{% macro lake_location(relation) -%}\n{%- set locations = {\n" + pairs + "\n} -%}\n"
        "{{ return(locations.get(relation.identifier)) }}\n{%- endmacro %}\n"
    )
