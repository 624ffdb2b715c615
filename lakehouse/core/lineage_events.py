"""OpenLineage events of the pipeline's runs (ingestion per table, dbt per model; Airflow's own through
its OpenLineage provider): which datasets a run read and wrote, lake tables with their Delta version.

Sent where the standard OpenLineage client configuration says (OPENLINEAGE_URL: Marquez in the
production compose), else appended to `var/openlineage/events.jsonl`, one event per line. A lineage
backend that is down never fails the pipeline: the event is logged as lost."""

from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lakehouse.core.settings import Settings

log = logging.getLogger(__name__)
NAMESPACE = "lakehouse"  # the jobs' namespace
PRODUCER = "https://github.com/national-data-lakehouse/lakehouse"
EVENTS = Path("openlineage") / "events.jsonl"

DatasetRef = tuple[str, str, int | None]  # namespace, name, Delta version (lake tables)


def events_path(settings: Settings) -> Path:
    return settings.var_dir / EVENTS


def lake_dataset(settings: Settings, table: Path, version: int | None) -> DatasetRef:
    """A lake table as an OpenLineage dataset: the lake's location as namespace, the zone path as name."""
    root = settings.lake_root.resolve()
    return f"file://{root}", table.resolve().relative_to(root).as_posix(), version


def source_dataset(server_label: str, qualified_table: str) -> DatasetRef:
    """A sector database table: `postgres://host:port` and `database.schema.table` (no credentials)."""
    return server_label, qualified_table, None


_clients: dict[str, Any] = {}  # one per destination and process (a client costs ~50 ms to make)


def _client(settings: Settings) -> Any:
    from openlineage.client import OpenLineageClient
    from openlineage.client.transport.file import FileConfig, FileTransport

    configured = bool(os.environ.get("OPENLINEAGE_URL") or os.environ.get("OPENLINEAGE_CONFIG"))
    path = events_path(settings)
    where = "configured" if configured else str(path)
    if where not in _clients:
        if configured:  # the standard configuration: HTTP to Marquez, Kafka, …
            _clients[where] = OpenLineageClient()
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            _clients[where] = OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=where, append=True)))
    return _clients[where]


def _datasets(refs: list[DatasetRef], kind: Any) -> list[Any]:
    from openlineage.client.facet_v2 import dataset_version_dataset

    out = []
    for namespace, name, version in refs:
        facets = (
            {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(version))}
            if version is not None
            else {}
        )
        out.append(kind(namespace=namespace, name=name, facets=facets))
    return out


def emit(
    settings: Settings,
    job: str,
    state: str,
    run_id: str | None = None,
    inputs: list[DatasetRef] | None = None,
    outputs: list[DatasetRef] | None = None,
) -> str:
    """One run event (START, COMPLETE, FAIL); returns the run id, to pass to the run's later events."""
    from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

    run_id = run_id or str(uuid.uuid4())
    try:
        event = RunEvent(
            eventType=RunState[state],
            eventTime=datetime.now(UTC).isoformat(),
            run=Run(runId=run_id),
            job=Job(namespace=NAMESPACE, name=job),
            producer=PRODUCER,
            inputs=_datasets(inputs or [], InputDataset),
            outputs=_datasets(outputs or [], OutputDataset),
        )
        _client(settings).emit(event)
    except Exception as exc:  # lineage is a record of the run, never a reason to fail it
        log.warning("OpenLineage event of %s (%s) not recorded: %s", job, state, exc)
    return run_id


def read(settings: Settings) -> list[dict[str, Any]]:
    """The locally recorded events (file transport), oldest first."""
    import json

    path = events_path(settings)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
