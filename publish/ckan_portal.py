"""Publish gold datasets to CKAN: one dataset per contract, organisation per ministry.

A run first prepares the release locally (disclosure gate, files, datapackage validation), then plans
per dataset and resource (create / update / skip / delete, by SHA-256), then applies the plan by
staging and flipping: changed files are uploaded as new resources, and one package_patch then swaps
them in together with the new version and metadata. Until that flip the portal shows the previous
release untouched, so a failure mid-dataset never leaves metadata claiming a version whose files were
not uploaded; the next run cleans up what was staged. `--dry-run` prints the plan and changes nothing.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ckanapi
import pyarrow as pa

from data_contracts import Dataset, datasets
from lakehouse.core import jsonl, lake, releases
from lakehouse.core.lake import read_table
from lakehouse.core.settings import REPO_ROOT, Settings
from publish import datastore, dcat, disclosure, exports, lineage, quality, release_audit
from publish.ckan_api import CkanApi, PortalError, PortalUnavailable, UploadTooLarge

__all__ = ["PortalError", "PortalUnavailable", "UploadTooLarge", "publish_all", "publish_dataset", "withdraw_orphans"]

log = logging.getLogger(__name__)
SMALL_WORDS = {"of", "and", "for", "the"}
DATASET_NAMESPACE = "urn:vn-lakehouse:dataset:"  # contract ids of the datasets this publisher owns
SHA256_IRI = "http://spdx.org/rdf/terms#checksumAlgorithm_sha256"
# Fields that describe the run rather than the release: they never make an unchanged dataset "changed".
RUN_FIELDS = {"provenance_code_revision"}


@dataclass
class Step:
    target: str  # a resource (file) name, or "metadata" / "dataset"
    action: str  # create | update | skip | delete
    detail: str = ""
    kind: str = "resource"  # resource | metadata | dataset | datastore


@dataclass
class PublishResult:
    dataset: str
    url: str
    gold_version: int | None
    rows: int
    action: str  # create | update | skip | delete
    steps: list[Step] = field(default_factory=list)
    dry_run: bool = False

    @property
    def uploaded(self) -> list[str]:
        return [s.target for s in self.steps if s.kind == "resource" and s.action in ("create", "update")]

    @property
    def unchanged(self) -> list[str]:
        return [s.target for s in self.steps if s.kind == "resource" and s.action == "skip"]

    def lines(self) -> list[str]:
        head = "plan" if self.dry_run else "done"
        version = f"gold v{self.gold_version}, {self.rows} rows" if self.gold_version is not None else "withdrawn"
        out = [f"{head}: {self.action:<6} {self.dataset} ({version})  {self.url}"]
        out += [f"    {s.action:<6} {s.target}{f'  ({s.detail})' if s.detail else ''}" for s in self.steps]
        return out


@dataclass
class Release:
    """A dataset's files and facts, prepared locally and through the disclosure gate."""

    dataset: Dataset
    rows: int
    gold_version: int
    facts: dict[str, Any]
    report: disclosure.DisclosureReport
    files: list[exports.Export]
    table: pa.Table  # the rows released, kept in the release log for later audits
    checks: list[dict[str, str]] = field(default_factory=list)  # dbt tests on the model, latest status
    quality: dict[str, Any] = field(default_factory=dict)  # publish/quality.py

    @property
    def csv(self) -> exports.Export:
        """The data as CSV: the file whose rows go to the DataStore."""
        return next(f for f in self.files if f.name == f"{self.dataset.name}.csv")

    @property
    def datapackage(self) -> exports.Export:
        return next(f for f in self.files if f.name == "datapackage.json")


def ministry_title(slug: str) -> str:
    """'ministry-of-public-security' -> 'Ministry of Public Security'."""
    words = slug.split("-")
    return " ".join(w if i and w in SMALL_WORDS else w.capitalize() for i, w in enumerate(words))


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


def _portal(settings: Settings) -> CkanApi:
    return CkanApi(
        settings.ckan_url,
        settings.ckan_token(),
        retries=settings.ckan_retries,
        retry_seconds=settings.ckan_retry_seconds,
        max_upload_mb=settings.ckan_max_upload_mb,
    )


def _audit(settings: Settings, event: dict[str, Any]) -> None:
    record = {"at": datetime.now(UTC).isoformat(), "who": getpass.getuser(), **event}
    jsonl.append(settings.var_dir / "audit" / "publish.jsonl", record)


def prepare(settings: Settings, dataset: Dataset, out_dir: Path) -> Release:
    """Read gold, run the disclosure gate with the release-set audit (refusing with the report's path),
    write and validate files."""
    table: pa.Table
    table, gold_version = read_table(dataset.gold_path(settings.lake_root))
    summary_path = dataset.disclosure_path(settings.lake_root)
    summary = read_table(summary_path)[0].to_pylist()[0] if (summary_path / "_delta_log").exists() else None
    # Stable facts only (no "generated now"), so an unchanged dataset re-publishes nothing.
    committed = lake.last_commit_at(dataset.gold_path(settings.lake_root)) or 0.0
    facts = {
        "gold_delta_version": gold_version,
        "input_delta_versions": lineage.input_versions(dataset, settings.lake_root),
        "gold_committed_at": datetime.fromtimestamp(committed, UTC).isoformat(timespec="seconds"),
    }
    # The intruder holds every table of this run and every earlier release: judge the set, not the table.
    contracts = (*(d for d in datasets() if d.name != dataset.name), dataset)
    audit = release_audit.audit(settings.lake_root, contracts)
    report = disclosure.check(dataset, table, summary, facts=facts, audit=audit)
    report_files = exports.write_report(dataset, report, out_dir)  # kept even when it failed: it says why
    report.raise_if_failed(report_files[1].path)
    homepage = f"{settings.ckan_url.rstrip('/')}/dataset/{dataset.name}"
    files = exports.write_all(dataset, table, report, out_dir, homepage)
    checks = lineage.model_checks(dataset, settings.var_dir / "dbt" / "run_results.json")
    measured = quality.report(settings, dataset, table, checks, facts["input_delta_versions"])
    files.append(
        exports.Export(
            quality.write(dataset, measured, out_dir),
            "JSON",
            "application/json",
            "Quality report: dbt tests, completeness, and per source table the quarantine rate by rule "
            "against the contract's threshold and the freshness SLA (also in the DCAT metadata, as DQV).",
        )
    )
    return Release(dataset, table.num_rows, gold_version, facts, report, files, table, checks, measured)


def _normalise(value: Any) -> Any:
    """Compare CKAN's echo of a field with what we send: tag dicts by name, blank subfields dropped."""
    if isinstance(value, list):
        return [_normalise(v) for v in value]
    if isinstance(value, dict):
        if "name" in value and ("display_name" in value or "vocabulary_id" in value):
            return value["name"]
        return {k: _normalise(v) for k, v in value.items() if v not in ("", None)}
    return "" if value is None else str(value)


def _changed_fields(wanted: dict[str, Any], current: dict[str, Any]) -> list[str]:
    changed = []
    for key, value in wanted.items():
        if key in RUN_FIELDS:
            continue
        mine, theirs = _normalise(value), _normalise(current.get(key))
        if key == "tags":
            mine, theirs = sorted(t["name"] for t in value), sorted(t["name"] for t in current.get(key) or [])
        elif isinstance(mine, list) and isinstance(theirs, list) and len(mine) == len(theirs):
            # Subfields CKAN echoes back that we did not send (scheming fills them) are not changes.
            theirs = [
                {k: t.get(k) for k in m} if isinstance(m, dict) and isinstance(t, dict) else t
                for m, t in zip(mine, theirs, strict=True)
            ]
        if mine != theirs:
            changed.append(key)
    return changed


def plan(release: Release, wanted: dict[str, Any], current: dict[str, Any] | None) -> tuple[str, list[Step]]:
    """The dataset's action and one step per resource (plus metadata)."""
    steps: list[Step] = []
    resources = (current or {}).get("resources", [])
    by_name: dict[str, dict] = {}
    for r in resources:
        by_name.setdefault(r.get("name", ""), r)
    names = {f.name for f in release.files}
    for f in release.files:
        existing = by_name.get(f.name)
        if existing is None:
            steps.append(Step(f.name, "create", f"new, {f.path.stat().st_size:,} bytes"))
        elif existing.get("hash") != f.sha256:
            steps.append(Step(f.name, "update", "sha256 changed"))
        else:
            steps.append(Step(f.name, "skip", "same sha256"))
    kept = {id(by_name[n]) for n in names if n in by_name}
    for r in resources:
        if id(r) not in kept:
            steps.append(Step(r.get("name") or r["id"], "delete", "not part of this release"))
    if current is None:
        return "create", [Step("metadata", "create", kind="metadata"), *steps]
    table = by_name.get(release.csv.name)  # the CSV's rows in the DataStore (data API, preview, chart)
    if table is not None and table.get("hash") == release.csv.sha256 and not table.get("datastore_active"):
        steps.append(Step(release.csv.name, "create", "DataStore table (not loaded yet)", kind="datastore"))
    changed = _changed_fields(wanted, current)
    if current.get("state") == "deleted":
        changed.append("state (was withdrawn)")
    if current.get("private"):
        changed.append("private (an earlier run stopped before publishing)")
    steps.insert(0, Step("metadata", "update" if changed else "skip", ", ".join(changed), kind="metadata"))
    action = "update" if any(s.action != "skip" for s in steps) else "skip"
    return action, steps


def _organisation(portal: CkanApi, dataset: Dataset, dry_run: bool) -> dict[str, Any]:
    org = portal.show("organization_show", id=dataset.ministry)
    if org is not None:
        return org
    if dry_run:
        return {"id": "", "name": dataset.ministry, "title": ministry_title(dataset.ministry)}
    title = ministry_title(dataset.ministry)
    description = f"{title}: open datasets published from the national data lakehouse, with provenance."
    try:
        return portal.call("organization_create", name=dataset.ministry, title=title, description=description)
    except ckanapi.ValidationError:  # a parallel publish task created it first
        return portal.call("organization_show", id=dataset.ministry)


def _apply(portal: CkanApi, release: Release, wanted: dict[str, Any], current: dict | None, steps: list[Step]) -> None:
    """Stage changed files as new resources, then flip everything in one package_patch."""
    if current is None:
        # Created private and without a version: nobody sees it, and it claims nothing, until the flip.
        draft = {k: v for k, v in wanted.items() if k not in ("version", "lake_gold_version", "version_notes")}
        current = portal.call("package_create", private=True, **draft)
    by_name: dict[str, dict] = {}
    for r in current.get("resources", []):
        by_name.setdefault(r.get("name", ""), r)
    to_upload = {s.target for s in steps if s.kind == "resource" and s.action in ("create", "update")}
    files = {f.name: f for f in release.files}
    staged: dict[str, dict] = {}
    try:
        for name in sorted(to_upload, key=list(files).index):
            f = files[name]
            staged[name] = portal.upload(
                "resource_create",
                f.path,
                f.mimetype,
                package_id=current["id"],
                name=f.name,
                format=f.format,
                mimetype=f.mimetype,
                description=f.description,
                hash=f.sha256,
                hash_algorithm=SHA256_IRI,
                size=f.path.stat().st_size,
                lake_gold_version=release.gold_version,
            )
    except Exception:
        for r in staged.values():  # best effort: the next run's flip removes whatever is left
            try:
                portal.call("resource_delete", id=r["id"])
            except Exception:  # the portal may be down; the original error matters
                break
        raise
    # The CSV's rows into the DataStore before the flip: a new release's table is whole before it shows.
    csv = release.csv
    loaded = staged.get(csv.name) or (by_name[csv.name] if any(s.kind == "datastore" for s in steps) else None)
    if loaded is not None:
        datastore.load(portal, loaded["id"], release.datapackage.path, release.table)
        loaded["datastore_active"] = True  # the flip below sends this dict back: keep the flag CKAN set
    flip: dict[str, Any] = {**wanted, "private": False, "state": "active"}
    if staged or any(s.kind == "resource" and s.action == "delete" for s in steps) or current.get("private"):
        flip["resources"] = [staged.get(f.name) or by_name[f.name] for f in release.files]
    if staged:
        flip["provenance_code_revision"] = code_revision()
    flipped = portal.call("package_patch", id=current["id"], **flip)
    table = next(r for r in flipped["resources"] if r.get("name") == csv.name)
    datastore.views(portal, table, release.dataset)
    replaced = by_name.get(csv.name) if csv.name in staged else None
    if replaced is not None and replaced.get("datastore_active"):  # the previous release's rows, now unlisted
        datastore.drop(portal, replaced["id"])


def publish_dataset(
    settings: Settings, dataset: Dataset, dry_run: bool = False, portal: CkanApi | None = None
) -> PublishResult:
    """Gate, plan and (unless dry_run) apply one dataset. Raises DisclosureError, DataPackageError,
    UploadTooLarge or PortalUnavailable with nothing half-published."""
    with tempfile.TemporaryDirectory(prefix="lakehouse-dry-run-") as tmp:
        out_dir = Path(tmp) if dry_run else settings.var_dir / "publish" / dataset.name
        release = prepare(settings, dataset, out_dir)
        portal = portal or _portal(settings)
        url = f"{portal.url}/dataset/{dataset.name}"
        try:
            organisation = _organisation(portal, dataset, dry_run)
            verdict = "passed" if release.report.passed else "failed"
            wanted = dcat.package_fields(dataset, organisation, portal.url, release.facts, release.checks, verdict)
            wanted["quality_measurements"] = json.dumps(release.quality["measurements"], sort_keys=True)
            current = portal.show("package_show", id=dataset.name)
            action, steps = plan(release, wanted, current)
            result = PublishResult(dataset.name, url, release.gold_version, release.rows, action, steps, dry_run)
            if dry_run:
                return result
            if action == "skip":  # already on the portal: make sure the release log knows it
                releases.record(settings.lake_root, dataset.name, release.gold_version, release.table, release.facts)
                return result
            for f in release.files:  # refuse before anything is created or staged
                if f.name in result.uploaded:
                    portal.check_size(f.path)
            _apply(portal, release, wanted, current, steps)
            releases.record(settings.lake_root, dataset.name, release.gold_version, release.table, release.facts)
        except UploadTooLarge as exc:
            raise UploadTooLarge(f"dataset {dataset.name}: {exc}; nothing was changed on the portal") from exc
        except PortalError as exc:
            raise type(exc)(
                f"dataset {dataset.name}: {exc}. The portal still shows the previous release unchanged; "
                f"rerun `bin/lakehouse publish --dataset {dataset.name}` to repair"
            ) from exc
    _audit(
        settings,
        {
            "action": action,
            "dataset": dataset.name,
            "gold_version": release.gold_version,
            "rows": release.rows,
            "uploaded": result.uploaded,
            "portal": portal.url,
        },
    )
    log.info("published %s (gold v%s, %s rows) to %s", dataset.name, release.gold_version, release.rows, url)
    return result


def withdraw_orphans(
    settings: Settings,
    current: Sequence[Dataset],
    dry_run: bool = False,
    namespace: str = DATASET_NAMESPACE,
    portal: CkanApi | None = None,
) -> list[PublishResult]:
    """Mark deleted (not purged: CKAN keeps it and its history) every dataset this publisher owns
    (contract id in `namespace`) whose contract is gone."""
    portal = portal or _portal(settings)
    keep = {d.name for d in current}
    found = portal.call("package_search", q="*:*", rows=1000, include_private=True)["results"]
    results = []
    for package in found:
        contract = package.get("contract_id") or ""
        if not contract.startswith(namespace) or package["name"] in keep:
            continue
        step = Step("dataset", "delete", f"contract {contract} withdrawn; marked deleted, not purged", "dataset")
        result = PublishResult(
            package["name"], f"{portal.url}/dataset/{package['name']}", None, 0, "delete", [step], dry_run
        )
        if not dry_run:
            portal.call("package_delete", id=package["id"])
            _audit(
                settings, {"action": "delete", "dataset": package["name"], "contract": contract, "portal": portal.url}
            )
        results.append(result)
    return results


def publish_all(settings: Settings, datasets: Iterable[Dataset], dry_run: bool = False) -> list[PublishResult]:
    """Every dataset, then withdraw those whose contract is gone."""
    datasets = list(datasets)
    portal = _portal(settings)
    results = [publish_dataset(settings, d, dry_run, portal) for d in datasets]
    return results + withdraw_orphans(settings, datasets, dry_run, portal=portal)


def usage(settings: Settings, names: Iterable[str]) -> dict[str, dict[str, int]]:
    """Views and downloads per dataset from CKAN's tracking (the `tracking` plugin counts page views and
    clicks on resource links; `infra/ckan.sh tracking` or a cron job runs `ckan tracking update` to
    aggregate them): {dataset: {views, views_recent, downloads, downloads_recent}}."""
    portal = _portal(settings)
    out: dict[str, dict[str, int]] = {}
    for name in names:
        package = portal.show("package_show", id=name, include_tracking=True)
        if package is None:
            continue
        views = package.get("tracking_summary") or {}
        files = [r.get("tracking_summary") or {} for r in package.get("resources", [])]
        out[name] = {
            "views": int(views.get("total", 0)),
            "views_recent": int(views.get("recent", 0)),
            "downloads": sum(int(f.get("total", 0)) for f in files),
            "downloads_recent": sum(int(f.get("recent", 0)) for f in files),
        }
    return out


PAGE_ORGANISATION = "national-data-centre"


def publish_page(settings: Settings, name: str, title: str, notes: str, files: Sequence[Path]) -> str:
    """A portal page that is not a dataset release (the governance scorecard): the Markdown as the
    dataset's description (CKAN renders it on the page) and `files` as its resources, replaced whole on
    every run. Returns the page's URL."""
    portal = _portal(settings)
    org = portal.show("organization_show", id=PAGE_ORGANISATION) or portal.call(
        "organization_create",
        name=PAGE_ORGANISATION,
        title="National Data Centre",
        description="Oversight of the national data lakehouse: governance and quality of its data.",
    )
    fields = {"name": name, "title": title, "notes": notes, "owner_org": org["id"], "license_id": "cc-by"}
    current = portal.show("package_show", id=name)
    package = (
        portal.call("package_patch", id=current["id"], **fields) if current else portal.call("package_create", **fields)
    )
    old = [r["id"] for r in package.get("resources", [])]
    for f in files:
        kind = "CSV" if f.suffix == ".csv" else "JSON"
        portal.upload(
            "resource_create",
            f,
            "text/csv" if kind == "CSV" else "application/json",
            package_id=package["id"],
            name=f.name,
            format=kind,
        )
    for resource_id in old:  # after the new files: the page is never without them
        portal.call("resource_delete", id=resource_id)
    return f"{portal.url}/dataset/{name}"
