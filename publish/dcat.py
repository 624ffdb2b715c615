"""DCAT-AP 3 metadata of a published dataset: the CKAN fields (ckanext-scheming schema in
ckanext-lakehouse) filled from the contract and the lake, and conformance checks of what the portal
serves against the official DCAT-AP 3.0.1 SHACL shapes."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

import requests

from data_contracts import Dataset, source_tables
from lakehouse.core import lake
from lakehouse.core.settings import REPO_ROOT

EU = "http://publications.europa.eu/resource/authority/"
FREQUENCIES = {
    "daily": "DAILY",
    "weekly": "WEEKLY",
    "monthly": "MONTHLY",
    "quarterly": "QUARTERLY",
    "annual": "ANNUAL",
    "yearly": "ANNUAL",
    "irregular": "IRREG",
}
NATIONAL_AUTHORITY = "http://purl.org/adms/publishertype/NationalAuthority"
SPATIAL = {
    "uri": f"{EU}country/VNM",
    "text": "Việt Nam / Viet Nam: 34 provinces and cities (2025 administrative units)",
}
SHAPES_ENV = "DCAT_AP_SHAPES"
DEFAULT_SHAPES = REPO_ROOT / "publish" / "reference" / "dcat-ap-3.0.1-SHACL.ttl"  # CC-BY 4.0, SEMIC


def lineage_path(feeding: list, inputs: dict[str, Any], name: str, gold_version: Any) -> str:
    """The path from the sector databases to this release, each lake table at the Delta version it was
    built from (OpenLineage events of every step are in var/openlineage/, or Marquez)."""

    def zone(prefix: str) -> str:
        return ", ".join(f"`{k}` v{v}" for k, v in sorted(inputs.items()) if k.startswith(prefix)) or "none"

    databases = ", ".join(f"`{t.source_label}` ({t.ministry})" for t in feeding) or "unknown"
    return (
        f"Lineage: sector databases {databases} → bronze {zone('bronze/')} → silver {zone('silver/')} → "
        f"gold `gold/{name}` v{gold_version} → this release."
    )


def package_fields(
    dataset: Dataset,
    organisation: dict[str, Any],
    portal_url: str,
    facts: dict[str, Any],
    checks: list[dict[str, str]],
    verdict: str,
) -> dict[str, Any]:
    """Every metadata field the publisher owns (resources excluded). Stable for unchanged inputs, so a
    republish of unchanged data changes nothing."""
    gold_version = facts["gold_delta_version"]
    committed = str(facts.get("gold_committed_at", ""))
    inputs = facts.get("input_delta_versions") or {}
    # The source contracts behind the bronze inputs, with the bronze Delta version used.
    feeding = [t for t in source_tables() if lake.relative("bronze", t.sector, t.table) in inputs]
    sources = [
        {
            "contract": t.contract_id,
            "table": t.qualified_name,
            "bronze_delta_version": inputs[lake.relative("bronze", t.sector, t.table)],
        }
        for t in feeding
    ]
    threshold = (
        f"k-anonymity k = {dataset.k_anonymity}"
        if dataset.kind == "microdata"
        else f"cells below {dataset.min_cell_count} suppressed"
    )
    provenance = "\n".join(
        [
            f"Built by the dbt model `{dataset.dbt_model}` from the national lakehouse "
            f"(gold Delta version {gold_version}, committed {committed}).",
            "",
            "Source contracts: " + (", ".join(f"`{x['contract']}`" for x in sources) or "unknown") + ".",
            "Inputs (lake table: Delta version): "
            + (", ".join(f"`{k}`: v{v}" for k, v in inputs.items()) or "unknown")
            + ".",
            f"dbt checks: {', '.join(c['check'] for c in checks) or 'none recorded'}.",
            "",
            lineage_path(feeding, inputs, dataset.name, gold_version),
            f"Disclosure control: {threshold}; verdict {verdict}.",
        ]
    )
    notes = "\n\n".join(p for p in (dataset.description, dataset.usage, dataset.limitations) if p)
    return {
        "name": dataset.name,
        "title": dataset.title,
        "title_vi": dataset.title_vi,
        "notes": notes,
        "notes_vi": dataset.description_vi,
        "owner_org": organisation["id"],
        "license_id": dataset.license_id,
        "tags": [{"name": t} for t in (*dataset.tags, *dataset.tags_vi)],  # both languages are searchable
        "tags_vi": json.dumps(list(dataset.tags_vi), ensure_ascii=False),  # which are Vietnamese (display)
        "version": str(gold_version),
        "version_notes": f"Gold Delta version {gold_version} (committed {committed}); contract "
        f"{dataset.contract_id} v{dataset.version}.",
        "identifier": dataset.contract_id,
        "contact": [{"name": dataset.contact_name, "email": dataset.contact_email}],
        "publisher": [
            {
                "name": organisation["title"],
                "uri": f"{portal_url.rstrip('/')}/organization/{organisation['name']}",
                "email": dataset.contact_email,
                "type": NATIONAL_AUTHORITY,
            }
        ],
        "frequency": f"{EU}frequency/{FREQUENCIES.get((dataset.frequency or 'irregular').lower(), 'IRREG')}",
        "temporal_coverage": [{"start": dataset.temporal_start, "end": committed[:10]}],
        "spatial_coverage": [SPATIAL],
        "access_rights": f"{EU}access-right/PUBLIC",
        "theme": [f"{EU}data-theme/{dataset.theme}"],
        "language": [f"{EU}language/VIE", f"{EU}language/ENG"],
        "provenance": provenance,
        "contract_id": dataset.contract_id,
        "contract_version": dataset.version,
        "lake_gold_version": str(gold_version),
        "provenance_inputs": json.dumps(inputs, sort_keys=True),
        "provenance_sources": json.dumps(sources, sort_keys=True),
        "provenance_dbt_model": dataset.dbt_model,
        "provenance_dbt_checks": json.dumps(checks, sort_keys=True),
        "disclosure_verdict": verdict,
        "disclosure_threshold": threshold,
    }


@cache
def _shapes() -> Any:
    import rdflib

    path = Path(os.environ.get(SHAPES_ENV, str(DEFAULT_SHAPES)))
    if not path.exists():
        raise FileNotFoundError(f"DCAT-AP 3.0.1 SHACL shapes not found at {path}: set {SHAPES_ENV}")
    return rdflib.Graph().parse(str(path), format="turtle")


def violations(turtle: str) -> list[str]:
    """SHACL violations of a Turtle document against the DCAT-AP 3.0.1 shapes (empty = conforms)."""
    import pyshacl
    import rdflib

    data = rdflib.Graph().parse(data=turtle, format="turtle")
    conforms, results, _ = pyshacl.validate(data, shacl_graph=_shapes())
    if conforms:
        return []
    sh = rdflib.Namespace("http://www.w3.org/ns/shacl#")
    return sorted(
        f"{results.value(r, sh.focusNode)} {results.value(r, sh.resultPath)}: {results.value(r, sh.resultMessage)}"
        for r in results.subjects(rdflib.RDF.type, sh.ValidationResult)
    )


def portal_violations(portal_url: str, names: list[str]) -> dict[str, list[str]]:
    """Violations of each dataset's /dataset/<name>.ttl and of the catalogue (/catalog.ttl)."""
    base = portal_url.rstrip("/")
    paths = [f"/dataset/{n}.ttl" for n in names] + ["/catalog.ttl"]
    out = {}
    for path in paths:
        response = requests.get(base + path, timeout=60)
        response.raise_for_status()
        out[path] = violations(response.text)
    return out
