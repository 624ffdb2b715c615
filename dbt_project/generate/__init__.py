"""Generate the dbt files the contracts imply, so nothing a contract says is restated by hand.

Written under models/generated/ and macros/generated/ (gitignored), before every dbt command
(runner.py), for the contracts of every folder in LAKEHOUSE_CONTRACTS_DIRS too:

- sources: `generated/staging/<sector>/_<sector>__sources.yml` (tables, columns, classification, key tests);
- tagged source tables (`silverEntity`): staging `stg_<sector>__<table>` (typed as in bronze, deduplicated on
  the key) and silver `int_<sector>__<entity>` (person key -> person_pseudonym, other direct identifiers
  dropped, administrative unit -> 2025 units with an `_unmatched` flag, code-list labels, rows failing the
  contract's quality rules left out);
- open datasets: the enforced dbt model contract and tests of the gold model; the gold model itself unless a
  hand-written one exists (models/**/<dbtModel>.sql); the cells model of an aggregate with a `source`; the
  disclosure summary `disclosure__<dataset>` of every dataset;
- macros: `contract_quality_<sector>__<table>(columns)` (the first failed rule's reason, compiled from the
  contract by data_contracts/quality.py) and `lake_locations()` (where each Delta model is written, from
  lakehouse.core.lake, the one definition of the lake layout).

Hand-written Delta models state only `materialized='delta'`; their location follows from their name:
`int_<sector>__<entity>` -> silver/<sector>/<entity>, `int_<sector>__<entity>_quarantine` ->
quarantine/<sector>/<entity>, a dataset's dbtModel -> gold/<dataset>."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from data_contracts import ContractError, SourceTable, datasets, source_tables
from dbt_project.generate.dataset_models import (
    cells_model,
    cells_sql,
    dataset_yaml,
    disclosure_model,
    disclosure_sql,
    gold_sql,
)
from dbt_project.generate.files import DBT_PROJECT, GENERATED, HEADER, yaml_text
from dbt_project.generate.model_locations import hand_written, locations, locations_macro
from dbt_project.generate.source_models import (
    quality_macro,
    silver_model,
    silver_sql,
    silver_yaml,
    sources,
    staging_sql,
)

__all__ = ["DBT_PROJECT", "render", "write"]


# --- the whole set -------------------------------------------------------------------------------


def render(project: Path = DBT_PROJECT) -> dict[Path, str]:
    """Every generated file (absolute path) -> its text."""
    tables, dsets = source_tables(), datasets()
    models, macros = project / "models" / GENERATED, project / "macros" / GENERATED
    hand = hand_written(project)
    out: dict[Path, str] = {}
    by_sector: dict[str, list[SourceTable]] = defaultdict(list)
    for t in tables:
        by_sector[t.sector].append(t)
    for sector, sector_tables in sorted(by_sector.items()):
        out[models / "staging" / sector / f"_{sector}__sources.yml"] = sources(sector, sector_tables)
    quality = [quality_macro(t) for t in sorted(tables, key=lambda t: t.qualified_name)]
    out[macros / "contract_quality.sql"] = "\n".join(quality)
    silver_docs = defaultdict(list)
    for t in tables:
        if not t.silver_entity:
            continue
        out[models / "staging" / t.sector / f"stg_{t.sector}__{t.table}.sql"] = staging_sql(t)
        out[models / "intermediate" / t.sector / f"{silver_model(t)}.sql"] = silver_sql(t)
        silver_docs[t.sector].append(silver_yaml(t))
    for sector, docs in silver_docs.items():
        out[models / "intermediate" / sector / f"_{sector}__generated_models.yml"] = HEADER.format(
            what=f"the {sector} source contracts"
        ) + yaml_text({"version": 2, "models": docs})
    for d in dsets:
        if d.kind == "aggregate" and d.cells_model is None:
            out[models / "intermediate" / d.sector / f"{cells_model(d)}.sql"] = cells_sql(d)
        elif d.cells_model not in hand:
            raise ContractError(f"{d.contract_path}: no hand-written model {d.cells_model} -> fix: add it or drop it")
        if d.dbt_model not in hand:
            out[models / "marts" / d.sector / f"{d.dbt_model}.sql"] = gold_sql(d)
        out[models / "marts" / "disclosure" / f"{disclosure_model(d)}.sql"] = disclosure_sql(d)
    out[models / "marts" / "_open_datasets__models.yml"] = HEADER.format(what="the dataset contracts") + yaml_text(
        {"version": 2, "models": [dataset_yaml(d) for d in sorted(dsets, key=lambda d: d.dbt_model)]}
    )
    out[macros / "lake_locations.sql"] = locations_macro(locations(project))
    return out


def write(project: Path = DBT_PROJECT) -> list[Path]:
    """Write what changed and remove generated files no contract implies any more; the paths changed."""
    files = render(project)
    changed = []
    for path, text in files.items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    for root in (project / "models" / GENERATED, project / "macros" / GENERATED):
        for path in sorted(root.rglob("*"), reverse=True) if root.exists() else []:
            if path.is_file() and path not in files:
                path.unlink()
                changed.append(path)
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()
    return changed
