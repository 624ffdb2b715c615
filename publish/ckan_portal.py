"""Push a gold dataset to CKAN with ckanapi: organisation per ministry, dataset per contract,
CSV and Parquet resources. Idempotent: a rerun updates in place and re-uploads only changed files.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import os
import subprocess
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ckanapi
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import requests
from deltalake import DeltaTable

from data_contracts import Dataset
from lakehouse.config import REPO_ROOT, Settings
from lakehouse.lake import read_table
from publish import disclosure, lineage

log = logging.getLogger(__name__)
SMALL_WORDS = {"of", "and", "for", "the"}


class PortalUnavailable(RuntimeError):
    """CKAN could not be reached or refused the request."""


@dataclass
class PublishResult:
    dataset: str
    url: str
    gold_version: int
    rows: int
    uploaded: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    dry_run: bool = False


def ministry_title(slug: str) -> str:
    """'ministry-of-public-security' -> 'Ministry of Public Security'."""
    words = slug.split("-")
    return " ".join(w if i and w in SMALL_WORDS else w.capitalize() for i, w in enumerate(words))


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_files(dataset: Dataset, table: pa.Table, out_dir: Path) -> dict[Path, str]:
    """CSV (UTF-8, header, empty = suppressed/NULL) and Parquet renderings of the gold table -> format."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = out_dir / f"{dataset.name}.csv", out_dir / f"{dataset.name}.parquet"
    pacsv.write_csv(table, csv_path)
    pq.write_table(table, parquet_path, compression="zstd")
    return {csv_path: "CSV", parquet_path: "Parquet"}


def write_dictionary(dataset: Dataset, out_dir: Path) -> dict[Path, str]:
    """The data dictionary, from the dataset contract: column, type, required, descriptions en / vi."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{dataset.name}.dictionary.csv"
    rows = [
        {
            "column": c.name,
            "type": c.logical_type or "string",
            "required": c.required,
            "description_en": c.description or "",
            "description_vi": c.description_vi or "",
            "classification": c.classification or "",
        }
        for c in dataset.columns
    ]
    pacsv.write_csv(pa.Table.from_pylist(rows), path)
    return {path: "CSV"}


def write_report(dataset: Dataset, report: disclosure.DisclosureReport, out_dir: Path) -> dict[Path, str]:
    """The disclosure report, machine-readable (JSON) and human-readable (Markdown)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{dataset.name}.disclosure-report.json"
    md_path = out_dir / f"{dataset.name}.disclosure-report.md"
    json_path.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str) + "\n")
    md_path.write_text(report.markdown())
    return {json_path: "JSON", md_path: "Markdown"}


def code_revision() -> str:
    """The pipeline's code revision for provenance: LAKEHOUSE_CODE_REVISION, else git, else unknown."""
    revision = os.environ.get("LAKEHOUSE_CODE_REVISION", "").strip()
    if revision:
        return revision
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _package_dict(
    dataset: Dataset, org_id: str, gold_version: int, report: disclosure.DisclosureReport
) -> dict[str, Any]:
    notes = "\n\n".join(p for p in (dataset.description, dataset.usage, dataset.limitations) if p)
    # Provenance travels with the dataset: contract, lake inputs and their Delta versions, dbt model,
    # code revision, disclosure verdict. The version researchers cite is the gold table's Delta version.
    extras = {
        "contract_id": dataset.contract_id,
        "contract_version": dataset.version,
        "frequency": dataset.frequency or "",
        "lake_gold_version": str(gold_version),
        "provenance_inputs": json.dumps(report.facts.get("input_delta_versions", {}), sort_keys=True),
        "provenance_dbt_model": dataset.dbt_model,
        "provenance_code_revision": code_revision(),
        "disclosure_verdict": "passed" if report.passed else "failed",
    }
    if dataset.kind == "aggregate":
        extras["min_cell_count"] = str(dataset.min_cell_count)
    else:
        extras["k_anonymity"] = str(dataset.k_anonymity)
    return {
        "name": dataset.name,
        "title": dataset.title,
        "notes": notes,
        "owner_org": org_id,
        "license_id": dataset.license_id,
        "version": str(gold_version),
        "tags": [{"name": t} for t in dataset.tags],
        "extras": [{"key": k, "value": v} for k, v in extras.items()],
    }


def _call(portal: ckanapi.RemoteCKAN, action: str, **kwargs: Any) -> Any:
    files = {"upload": kwargs.pop("upload")} if "upload" in kwargs else None
    try:
        return portal.call_action(action, kwargs, files=files)
    except ckanapi.NotFound:
        raise
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise PortalUnavailable(
            f"CKAN at {portal.address} is not reachable ({type(exc).__name__}); start it with "
            f"`bash infra/ckan.sh start` or set CKAN_URL"
        ) from exc
    except ckanapi.CKANAPIError as exc:
        raise PortalUnavailable(f"CKAN {action} failed at {portal.address}: {exc}") from exc


def _upsert_resource(portal: ckanapi.RemoteCKAN, package: dict, fmt: str, path: Path) -> bool:
    """Create or replace the resource named after the file; False when the bytes are unchanged."""
    digest = sha256(path)
    existing = [r for r in package.get("resources", []) if r.get("name") == path.name]
    for extra in existing[1:]:  # heal duplicates left by an earlier failed run
        _call(portal, "resource_delete", id=extra["id"])
    if existing and existing[0].get("hash") == digest:
        return False
    fields = {"name": path.name, "format": fmt, "hash": digest}
    with path.open("rb") as fh:
        if existing:
            _call(portal, "resource_patch", id=existing[0]["id"], upload=fh, **fields)
        else:
            _call(portal, "resource_create", package_id=package["id"], upload=fh, **fields)
    return True


def _audit(settings: Settings, event: dict[str, Any]) -> None:
    path = settings.var_dir / "audit" / "publish.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"at": datetime.now(UTC).isoformat(), "who": getpass.getuser(), **event}) + "\n")


def publish_dataset(settings: Settings, dataset: Dataset, dry_run: bool = False) -> PublishResult:
    """Disclosure gate, then CKAN. Raises DisclosureError / PortalUnavailable with nothing half-done
    on the lake side; CKAN sees resources replaced one by one (atomic swap is future work)."""
    table, gold_version = read_table(dataset.gold_path(settings.lake_root))
    summary_path = dataset.disclosure_path(settings.lake_root)
    summary = read_table(summary_path)[0].to_pylist()[0] if (summary_path / "_delta_log").exists() else None
    # Stable facts only (no "generated now"), so an unchanged dataset re-publishes nothing.
    committed = DeltaTable(str(dataset.gold_path(settings.lake_root))).history(1)[0]["timestamp"]
    facts = {
        "gold_delta_version": gold_version,
        "input_delta_versions": lineage.input_versions(dataset, settings.lake_root),
        "gold_committed_at": datetime.fromtimestamp(committed / 1000, UTC).isoformat(timespec="seconds"),
    }
    report = disclosure.check(dataset, table, summary, facts=facts)
    out_dir = settings.var_dir / "publish" / dataset.name
    write_report(dataset, report, out_dir)  # kept even when it failed: it says why
    report.raise_if_failed()
    files = {
        **write_files(dataset, table, out_dir),
        **write_dictionary(dataset, out_dir),
        **write_report(dataset, report, out_dir),
    }
    url = f"{settings.ckan_url.rstrip('/')}/dataset/{dataset.name}"
    result = PublishResult(dataset.name, url, gold_version, table.num_rows, dry_run=dry_run)
    if dry_run:
        result.unchanged = [p.name for p in files]
        return result

    portal = ckanapi.RemoteCKAN(settings.ckan_url, apikey=settings.ckan_token(), user_agent="lakehouse-publisher")
    try:
        org = _call(portal, "organization_show", id=dataset.ministry)
    except ckanapi.NotFound:
        org = _call(portal, "organization_create", name=dataset.ministry, title=ministry_title(dataset.ministry))
    wanted = _package_dict(dataset, org["id"], gold_version, report)
    try:
        current = _call(portal, "package_show", id=dataset.name)
        package = _call(portal, "package_patch", id=current["id"], **wanted)
    except ckanapi.NotFound:
        package = _call(portal, "package_create", **wanted)
    for path, fmt in files.items():
        (result.uploaded if _upsert_resource(portal, package, fmt, path) else result.unchanged).append(path.name)
    _audit(
        settings,
        {
            "action": "publish",
            "dataset": dataset.name,
            "gold_version": gold_version,
            "rows": table.num_rows,
            "uploaded": result.uploaded,
            "portal": settings.ckan_url,
        },
    )
    log.info("published %s (gold v%s, %s rows) to %s", dataset.name, gold_version, table.num_rows, url)
    return result
