"""The files a published dataset consists of, written from the gold table and its contract:
CSV (UTF-8, RFC 4180), Parquet, the Frictionless datapackage.json, the data dictionary and the
disclosure report (JSON and Markdown). Bytes depend only on their inputs, so an unchanged dataset
produces identical files and the portal re-uploads nothing."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from data_contracts import Dataset
from publish import datapackage, disclosure

# RFC 4180: CRLF line ends, quotes where needed, header row. Empty = suppressed or NULL.
CSV_OPTIONS = pacsv.WriteOptions(eol="\r\n", quoting_style="needed")


@dataclass(frozen=True)
class Export:
    path: Path
    format: str  # CKAN's format label
    mimetype: str
    description: str

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def sha256(self) -> str:
        return sha256(self.path)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def dictionary_rows(dataset: Dataset) -> list[dict[str, str]]:
    """The data dictionary, from the contract: column, type, unit, descriptions en / vi, allowed values."""
    return [
        {
            "column": c.name,
            "type": c.logical_type or "string",
            "required": "yes" if c.required else "no",
            "unit": c.unit or "",
            "description_en": c.description or "",
            "description_vi": c.description_vi or "",
            "allowed_values": " | ".join(str(v) for v in c.allowed_values),
            "classification": c.classification or "",
        }
        for c in dataset.columns
    ]


def write_report(dataset: Dataset, report: disclosure.DisclosureReport, out_dir: Path) -> list[Export]:
    """The disclosure report, machine-readable (JSON) and human-readable (Markdown)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{dataset.name}.disclosure-report.json"
    md_path = out_dir / f"{dataset.name}.disclosure-report.md"
    json_path.write_text(json.dumps(report.as_dict(), indent=2, ensure_ascii=False, default=str) + "\n")
    md_path.write_text(report.markdown())
    return [
        Export(json_path, "JSON", "application/json", "Disclosure-control report (machine-readable)."),
        Export(md_path, "Markdown", "text/markdown", "Disclosure-control report: the checks this release passed."),
    ]


def write_all(
    dataset: Dataset, table: pa.Table, report: disclosure.DisclosureReport, out_dir: Path, homepage: str
) -> list[Export]:
    """Every file of the release, in the order the portal lists them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, parquet_path = out_dir / f"{dataset.name}.csv", out_dir / f"{dataset.name}.parquet"
    pacsv.write_csv(table, csv_path, write_options=CSV_OPTIONS)
    pq.write_table(table, parquet_path, compression="zstd")
    dictionary_path = out_dir / f"{dataset.name}.dictionary.csv"
    pacsv.write_csv(pa.Table.from_pylist(dictionary_rows(dataset)), dictionary_path, write_options=CSV_OPTIONS)
    package_path = datapackage.write(dataset, csv_path, sha256(csv_path), report.facts, homepage, out_dir)
    return [
        Export(csv_path, "CSV", "text/csv", f"{dataset.title} (CSV, UTF-8). Empty cells are suppressed."),
        Export(parquet_path, "Parquet", "application/vnd.apache.parquet", f"{dataset.title} (Parquet)."),
        Export(
            package_path,
            "JSON",
            "application/json",
            "Frictionless Data Package descriptor of the CSV: schema, types, constraints, hash.",
        ),
        Export(
            dictionary_path,
            "CSV",
            "text/csv",
            "Data dictionary: column, type, unit, description (English / Vietnamese), allowed values.",
        ),
        *write_report(dataset, report, out_dir),
    ]
