"""Drive a running Airflow 3 through its REST API (/api/v2): unpause and trigger DAGs, wait for runs.

infra/airflow.sh api trigger ingest__population --conf '{"full_refresh": true}' --wait
infra/airflow.sh api wait lakehouse_transform --since 2026-11-26T12:00:00Z
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DONE = {"success", "failed"}


class Api:
    def __init__(self, url: str, password_file: Path) -> None:
        self.url = url.rstrip("/")
        password = json.loads(password_file.read_text())["admin"]
        self.token = self._request("POST", "/auth/token", {"username": "admin", "password": password})["access_token"]

    def _request(self, method: str, path: str, body: dict | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if getattr(self, "token", None):
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method=method)  # noqa: S310
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own API
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"[airflow] {method} {path}: HTTP {exc.code}: {exc.read().decode()[:500]}") from exc

    def wait_for_dag(self, dag_id: str, timeout: float) -> None:
        """The DAG processor has to have parsed the DAG before it can be triggered."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self._request("GET", f"/api/v2/dags/{dag_id}")
                return
            except SystemExit:
                time.sleep(2)
        raise SystemExit(f"[airflow] DAG {dag_id} did not appear within {timeout:g} s (dag-processor log?)")

    def trigger(self, dag_id: str, conf: dict) -> str:
        self.wait_for_dag(dag_id, 120)
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        run = self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})
        return run["dag_run_id"]

    def unpause(self, dag_id: str) -> None:
        self.wait_for_dag(dag_id, 120)
        self._request("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})

    def runs(self, dag_id: str) -> list[dict]:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns?order_by=-run_after&limit=20")["dag_runs"]

    def wait(self, dag_id: str, run_id: str | None, since: str | None, timeout: float) -> dict:
        """Until the run (or the first run created after `since`) has finished; its final record."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [
                r
                for r in self.runs(dag_id)
                if (run_id and r["dag_run_id"] == run_id) or (not run_id and since and r["run_after"] >= since)
            ]
            first = sorted(found, key=lambda r: r["run_after"])[:1]  # the first run since then
            if first and first[0]["state"] in DONE:
                return first[0]
            time.sleep(3)
        raise SystemExit(f"[airflow] {dag_id}: no finished run within {timeout:g} s")

    def timeline(self, dag_id: str, run_id: str) -> list[dict]:
        """The run's task instances, first started first."""
        tis = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=500")
        return sorted(tis["task_instances"], key=lambda t: (t.get("start_date") or "~", t["task_id"]))

    def asset_events(self, dag_id: str, run_id: str) -> list[str]:
        """The URIs of the asset events a run emitted (what it tells the DAGs scheduled on them)."""
        # a run id holds "+" (its time zone), which a raw query string turns into a space
        query = urllib.parse.urlencode({"source_dag_id": dag_id, "source_run_id": run_id, "limit": 100})
        events = self._request("GET", f"/api/v2/assets/events?{query}")["asset_events"]
        return sorted(e["uri"] for e in events)

    def failed_tasks(self, dag_id: str, run_id: str) -> list[str]:
        tis = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances?limit=500")
        return [t["task_id"] for t in tis["task_instances"] if t["state"] in ("failed", "upstream_failed")]


def _seconds(run: dict) -> float:
    """A run's duration, queued to finished (what a user waits once the run exists)."""
    begun = datetime.fromisoformat(run.get("queued_at") or run["start_date"])
    return (datetime.fromisoformat(run["end_date"]) - begun).total_seconds()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", required=True)
    ap.add_argument("--password-file", type=Path, required=True)
    sub = ap.add_subparsers(dest="action", required=True)
    t = sub.add_parser("trigger")
    t.add_argument("dag_ids", nargs="+")
    t.add_argument("--conf", default="{}")
    t.add_argument("--wait", action="store_true")
    t.add_argument("--timeout", type=float, default=1800)
    w = sub.add_parser("wait", help="the first run of a DAG created after --since (asset-triggered)")
    w.add_argument("dag_id")
    w.add_argument("--since", required=True)
    w.add_argument("--timeout", type=float, default=1800)
    u = sub.add_parser("unpause")
    u.add_argument("dag_ids", nargs="+")
    tl = sub.add_parser("timeline", help="when each task of a run queued, started and ended")
    tl.add_argument("dag_id")
    tl.add_argument("run_id", nargs="?", help="default: the latest run")
    ev = sub.add_parser("events", help="the asset events a run emitted")
    ev.add_argument("dag_id")
    ev.add_argument("run_id", nargs="?", help="default: the latest run")
    sub.add_parser("now", help="the API server's notion of now, for --since")
    args = ap.parse_args()
    if args.action == "now":
        print(datetime.now(UTC).isoformat())
        return 0
    api = Api(args.url, args.password_file)
    if args.action == "unpause":
        for dag_id in args.dag_ids:
            api.unpause(dag_id)
        return 0
    if args.action == "timeline":
        run_id = args.run_id or api.runs(args.dag_id)[0]["dag_run_id"]
        for t in api.timeline(args.dag_id, run_id):
            print(
                f"{t.get('queued_when') or '-':32} {t.get('start_date') or '-':32} {t.get('end_date') or '-':32} "
                f"{t['state'] or '-':10} {t['task_id']}"
            )
        return 0
    if args.action == "events":
        run_id = args.run_id or api.runs(args.dag_id)[0]["dag_run_id"]
        for uri in api.asset_events(args.dag_id, run_id):
            print(uri)
        return 0
    if args.action == "trigger":
        started = {d: api.trigger(d, json.loads(args.conf)) for d in args.dag_ids}
        for dag_id, run_id in started.items():
            print(f"[airflow] triggered {dag_id}: {run_id}", flush=True)
        if not args.wait:
            return 0
        results = {d: api.wait(d, r, None, args.timeout) for d, r in started.items()}
    else:
        results = {args.dag_id: api.wait(args.dag_id, None, args.since, args.timeout)}
    ok = True
    for dag_id, run in results.items():
        print(f"[airflow] {dag_id} {run['dag_run_id']}: {run['state']} in {_seconds(run):.1f} s", flush=True)
        if run["state"] != "success":
            ok = False
            print(
                f"[airflow]   failed tasks: {', '.join(api.failed_tasks(dag_id, run['dag_run_id']))}", file=sys.stderr
            )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
