"""`lakehouse`: the data engineers' command-line tool. Every verb is driven by the contracts.

lakehouse contracts                 list and validate every contract
lakehouse ingest [--sector S]       sector tables -> bronze Delta (DuckDB scanners, or Spark on a cluster)
lakehouse transform                 dbt build: bronze -> silver -> gold
lakehouse publish [--dataset D] [--dry-run]  disclosure gate -> plan -> CKAN
lakehouse disclosure audit          the intruder's audit of the release set (gold builds + earlier releases)
lakehouse dcat-check [--dataset D]  the portal's DCAT-AP 3 output against the official SHACL shapes
lakehouse gateway serve|audit       the ministries' SQL gateway (PostgreSQL wire) and its audit log
lakehouse maintain [--zone Z]       compaction + vacuum with the contracts' retention
lakehouse freshness                 bronze tables vs their contracts' freshness SLA
lakehouse status                    lake tables, versions, row counts; portal reachability
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from data_contracts import dataset, dataset_files, datasets, source_files, source_table, source_tables, validate_all
from lakehouse.core.errors import EXIT_PERMANENT, LakehouseError, PermanentError
from lakehouse.core.settings import Settings


def _cmd_contracts(settings: Settings, args: argparse.Namespace) -> int:
    if args.action in ("generate", "dbt-yaml"):
        from dbt_project import generate

        if args.check:  # generated files are not committed: check that every contract generates
            print(f"{len(generate.render())} dbt file(s) generate from the contracts")
            return 0
        for path in generate.write():
            print(f"wrote {path}")
        return 0
    if args.action == "validate":
        problems = validate_all()
        for line in problems:
            print(line, file=sys.stderr)
        files = len(source_files()) + len(dataset_files())
        print(f"{files} contract(s) checked: {'all valid' if not problems else f'{len(problems)} problem(s)'}")
        return 1 if problems else 0
    for t in source_tables():
        print(f"source   {t.qualified_name:<32} {t.policy.mode:<11} {t.source_label:<42} {t.contract_path}")
    for d in datasets():
        print(f"dataset  {d.name:<32} {'gold':<11} {'gold/' + d.name:<42} {d.contract_path}")
    return 0


def _cmd_ingest(settings: Settings, args: argparse.Namespace) -> int:
    tables = [
        t
        for t in source_tables()
        if (not args.sector or t.sector == args.sector) and (not args.table or t.table == args.table)
    ]
    if not tables:
        source_table(args.sector or "", args.table)  # raises with the list of known tables
    if args.dry_run:
        for t in tables:
            print(f"would ingest {t.source_label} -> {t.bronze_path(settings.lake_root)}")
        return 0
    from spark_jobs.ingest import ingest_table
    from spark_jobs.source import open_engine

    with open_engine(settings) as engine:
        for t in tables:
            result = ingest_table(engine, settings, t, batch_version=args.batch_version, full_refresh=args.full_refresh)
            print(f"{engine.name:<6} {result.summary()}", flush=True)
    return 0


def _cmd_transform(settings: Settings, args: argparse.Namespace) -> int:
    from dbt_project.runner import run_dbt

    return run_dbt(settings, "compile" if args.dry_run else "build", args.select)


def _cmd_dbt(settings: Settings, args: argparse.Namespace) -> int:
    from dbt_project.runner import dbt

    return dbt(settings, args.dbt_args)


def _cmd_publish(settings: Settings, args: argparse.Namespace) -> int:
    from publish.ckan_portal import publish_all, publish_dataset, withdraw_orphans

    if args.withdrawn_only:
        results = withdraw_orphans(settings, datasets(), dry_run=args.dry_run)
        if not results:
            print("no published dataset has lost its contract")
    elif args.dataset:
        results = [publish_dataset(settings, dataset(args.dataset), dry_run=args.dry_run)]
    else:  # every contract, then withdraw the datasets whose contract is gone
        results = publish_all(settings, datasets(), dry_run=args.dry_run)
    for r in results:
        print("\n".join(r.lines()), flush=True)
    if args.dry_run:
        print("dry run: nothing was changed on the portal")
    return 0


def _cmd_disclosure(settings: Settings, args: argparse.Namespace) -> int:
    from publish.release_audit import audit

    result = audit(settings.lake_root)
    print("\n".join(result.lines()), flush=True)
    return 0 if result.passed else EXIT_PERMANENT


def _cmd_dcat_check(settings: Settings, args: argparse.Namespace) -> int:
    from publish.dcat import portal_violations

    names = [args.dataset] if args.dataset else [d.name for d in datasets()]
    found = portal_violations(settings.ckan_url, names)
    for path, problems in found.items():
        print(f"{path}: {len(problems)} DCAT-AP 3.0.1 SHACL violation(s)")
        for p in problems:
            print(f"    {p}")
    return 1 if any(found.values()) else 0


def _cmd_gateway(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "serve":
        from gateway.app import serve

        serve(settings)
        return 0
    from gateway.audit import printable, query

    records = query(settings.var_dir / "audit" / "sql.jsonl", args.ministry, args.denied, args.limit)
    for r in records:  # client-chosen text (user names, SQL) printed escaped: it cannot drive the terminal
        verdict = {True: "allowed", False: "DENIED "}.get(r["allowed"], "INTERRUPTED")
        sql = printable(" ".join(str(r["sql"]).split()), 100)
        kind = r.get("kind") or "query"
        ministry = printable(r["ministry"], 36)
        print(f"{r['at']}  {ministry:<36} {verdict} {kind:<8} {r['rows'] or 0:>7} rows {r['duration_ms']} ms  {sql}")
        if r["reason"]:
            print(f"{'':>32}reason: {printable(r['reason'], 300)}")
    return 0


def _slot_status(settings: Settings, bronze: Path) -> str:
    """The table's change-data-capture slot and the WAL it holds on the source, when it has one."""
    from spark_jobs import cdc

    slot, _ = cdc.recorded(bronze)
    if not slot:
        return ""
    try:
        held = cdc.wal_held(settings, slot)
    except Exception as exc:  # the source is down: say so, status goes on
        return f"; slot {slot}: source unreachable ({type(exc).__name__})"
    if held is None:
        return f"; slot {slot}: missing (the next batch compares keys)"
    return f"; slot {slot}: {held / 2**20:.1f} MB WAL held"


def _read_citizen_id() -> str:
    """From a prompt that does not echo, or stdin: never an argument (shell history, `ps`, task logs)."""
    if sys.stdin.isatty():
        import getpass

        return getpass.getpass("citizen ID (not shown, not stored): ")
    return sys.stdin.readline()


def _cmd_erasure(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse import erasure
    from lakehouse.core import erasure_list

    if args.action == "status":
        listed = erasure_list.requests(settings)
        for r in listed:
            state = f"done {r.completed_at}" if r.completed_at else "PENDING"
            print(f"{r.request_id}  requested {r.requested_at}  {state}")
        print(f"{len(listed)} request(s) on the erasure list")
        return 0
    citizen_ids: list[str] = []
    if args.action == "request":
        citizen_ids = [_read_citizen_id()]
        r = erasure_list.request(settings, citizen_ids[0])
        print(f"erasure request {r.request_id} recorded ({r.requested_at}); the ID itself is not kept")
    outcome = erasure.apply(settings, citizen_ids, publish=not args.no_publish)
    if not outcome.request_ids:
        print("no pending erasure request")
        return 0
    for table, rows in sorted(outcome.rows_removed.items()):
        print(f"  {table}: {rows} row(s) removed")
    print(f"  {outcome.files_purged} data file(s) of earlier versions deleted; earlier versions unreadable")
    for line in outcome.published:
        print(f"  {line}")
    print(f"erasure done for request(s) {', '.join(outcome.request_ids)}")
    return 0


def _cmd_quality(settings: Settings, args: argparse.Namespace) -> int:
    """Per source table: quarantine rate by rule (latest batch, trend), freshness vs SLA, completeness;
    per dataset: the dbt tests on its model. Exit 3 when a table misses its contract's threshold or SLA."""
    from lakehouse.quality import freshness, source_quality
    from publish.lineage import model_checks

    fresh = {f.table: f for f in freshness(settings)}
    missed = 0
    print("source tables (latest batch; trend of the last batches; worst column's completeness):")
    for t in source_tables():
        if args.table and args.table not in (t.qualified_name, t.table):
            continue
        q = source_quality(settings, t, fresh[t.qualified_name])
        missed += q["met"] is False
        trend = " ".join(f"{b['rate']:.1%}" for b in q["quarantine_rate_over_time"][-5:]) or "no batch yet"
        age = "never ingested" if q["freshness_hours"] is None else f"{q['freshness_hours']:.1f} h old"
        worst = q["completeness_worst"]
        state = {True: "ok  ", False: "MISS", None: "n/a "}[q["met"]]
        print(
            f"  {state} {t.qualified_name:<32} quarantine {q['quarantine_rate']:.2%} "
            f"(threshold {q['quarantine_threshold']:.0%}; trend {trend}); {age} (SLA {q['freshness_sla_hours']:g} h)"
            + (f"; completeness {q['completeness_min']:.1%} ({worst})" if worst else "")
        )
        for rule, n in sorted(q["quarantined_by_rule"].items(), key=lambda kv: -kv[1]):
            print(f"         {n:>8} rows failed {rule}")
    print("datasets (dbt tests on the model):")
    for d in datasets():
        checks = model_checks(d, settings.var_dir / "dbt" / "run_results.json")
        failed = [c["check"] for c in checks if c["status"] not in ("pass", "success")]
        print(
            f"  {d.name:<44} {len(checks) - len(failed)}/{len(checks)} passed"
            + (f"; not passed: {', '.join(failed)}" if failed else "")
        )
    return EXIT_PERMANENT if missed and args.strict else 0


def _cmd_scorecard(settings: Settings, args: argparse.Namespace) -> int:
    """The data-governance scorecard per ministry (lakehouse/scorecard.py); --publish puts it on the portal."""
    import csv
    import json
    import tempfile

    from lakehouse.scorecard import markdown, scorecard

    scores = scorecard(settings)
    for s in scores:
        measures = "  ".join(f"{k} {v:.0%}" for k, v in s.measures().items())
        print(f"{s.ministry:<36} level {s.level}  {measures}")
    if args.publish:
        from publish.ckan_portal import publish_page

        with tempfile.TemporaryDirectory() as tmp:
            table, raw = Path(tmp) / "scorecard.csv", Path(tmp) / "scorecard.json"
            with table.open("w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=list(scores[0].as_dict()))
                writer.writeheader()
                writer.writerows(s.as_dict() for s in scores)
            raw.write_text(json.dumps([s.as_dict() for s in scores], indent=2) + "\n")
            url = publish_page(
                settings,
                "data-governance-scorecard",
                "Data-governance scorecard per ministry",
                markdown(scores),
                [table, raw],
            )
        print(f"published: {url}")
    return 0


def _cmd_subject(settings: Settings, args: argparse.Namespace) -> int:
    """Oversight of citizen-data use: which ministries received rows about one person, when, from what."""
    from gateway.audit import accesses, printable
    from gateway.engine import ACCESS_KEY_CHARS, recipient_key, recipient_pseudonym
    from gateway.grants import ministries
    from lakehouse.core.erasure_list import pseudonym
    from lakehouse.core.settings import pseudonym_key

    person = pseudonym(_read_citizen_id())  # the ID is hashed here and dropped
    master = pseudonym_key()
    keys = {m: recipient_pseudonym(recipient_key(master, m), person)[:ACCESS_KEY_CHARS] for m in ministries()}
    found = accesses(settings.var_dir / "audit" / "sql.jsonl", keys)
    print(f"access report for one citizen (the ID is not kept): {len(found)} access(es) by ministries")
    for a in found:
        print(f"  {a['at']}  {printable(a['ministry'], 40):<40} {', '.join(a['relations'])}  (statement {a['id']})")
    print("aggregates (counts, sums) are not access to a person; rows with the person's key are")
    return 0


def _cmd_status(settings: Settings, args: argparse.Namespace) -> int:
    import pyarrow as pa

    from lakehouse.core import changelog, lake

    print(f"lake root: {settings.lake_root}")
    keys = {t.bronze_path(settings.lake_root): t.primary_key for t in source_tables()}
    for zone in lake.ZONES:
        root = settings.lake_root / zone
        for log_dir in sorted(root.glob("**/_delta_log")) if root.exists() else []:
            dt = lake.open_table(log_dir.parent)
            rows = sum(pa.table(dt.get_add_actions(flatten=True))["num_records"].to_pylist())
            shown = f"{rows:>9} rows"
            if log_dir.parent in keys and changelog.is_change_log(log_dir.parent):  # current rows, and the log's
                current = changelog.read_current(log_dir.parent, keys[log_dir.parent], keys[log_dir.parent]).num_rows
                shown = f"{current:>9} rows ({rows} in the change log){_slot_status(settings, log_dir.parent)}"
            print(f"  {zone:<10} {log_dir.parent.relative_to(root)!s:<40} v{dt.version():<4} {shown}")
    try:
        import requests

        ok = requests.get(f"{settings.ckan_url}/api/3/action/status_show", timeout=5).ok
    except requests.RequestException:
        ok = False
    print(f"CKAN {settings.ckan_url}: {'up' if ok else 'DOWN (bash infra/ckan.sh start)'}")
    _print_usage(settings, portal_up=ok)
    return 0


def _print_usage(settings: Settings, portal_up: bool) -> None:
    """Who uses what: downloads per open dataset (CKAN tracking), queries per relation and ministry
    (the gateway's audit log)."""
    from gateway.audit import printable, usage

    if portal_up:
        from publish.ckan_portal import usage as portal_usage

        try:
            counts = portal_usage(settings, [d.name for d in datasets()])
        except (LakehouseError, RuntimeError) as exc:  # no API token, say
            print(f"usage on the portal: not available ({exc})")
        else:
            print("usage on the portal (all time / last 14 days; `bash infra/ckan.sh tracking` updates it):")
            for name, c in sorted(counts.items()):
                print(
                    f"  {name:<44} {c['downloads']:>6} downloads ({c['downloads_recent']} recent)"
                    f" {c['views']:>6} page views ({c['views_recent']} recent)"
                )
    queries = usage(settings.var_dir / "audit" / "sql.jsonl")
    print("queries through the SQL gateway (all time / last 30 days):" if queries else "no gateway queries yet")
    for q in queries:
        print(f"  {printable(q['ministry'], 36):<36} {q['relation']:<40} {q['queries']:>6} ({q['recent']} recent)")


def _cmd_maintain(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.maintenance import ZONES, maintain

    for zone in [args.zone] if args.zone else ZONES:
        for line in maintain(settings, zone, args.dry_run) or [f"{zone}: no tables"]:
            print(line, flush=True)
    return 0


def _cmd_freshness(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.maintenance import StaleData
    from lakehouse.quality import freshness

    report = freshness(settings)
    for f in report:
        age = "never ingested" if f.age_hours is None else f"{f.age_hours:.1f} h old"
        print(f"{'STALE' if f.stale else 'fresh'}  {f.table:<32} {age:<18} (SLA {f.sla_hours:g} h)")
    stale = [f.table for f in report if f.stale]
    if stale:
        raise StaleData(f"{len(stale)} table(s) older than their contract's freshness SLA: {', '.join(stale)}")
    return 0


def _cmd_table(settings: Settings, args: argparse.Namespace) -> int:
    from lakehouse.core import lake

    path = settings.lake_root / args.table
    if not path.joinpath("_delta_log").exists():
        raise FileNotFoundError(
            f"no Delta table at {path} (give a path under the lake root, e.g. bronze/population/citizen)"
        )
    if args.action == "history":
        for h in lake.history(path, args.limit):
            added, removed = f"+{h['added']}", f"-{h['removed']}"
            print(f"v{h['version']:<5} {h['at']}  {h['operation']:<24} {added:<9} {removed:<9} {h['batch_id']}")
    elif args.action == "read":
        table, version = lake.read_table(path, args.version)
        print(f"{args.table} at Delta v{version}: {table.num_rows} rows, columns {', '.join(table.column_names)}")
        for row in table.slice(0, args.limit).to_pylist():
            print(row)
    elif args.action == "compact":
        print(lake.compact(path))
    elif args.action == "vacuum":
        files = lake.vacuum(path, args.retention_hours, dry_run=args.dry_run)
        print(
            f"{'would remove' if args.dry_run else 'removed'} {len(files)} file(s) older than {args.retention_hours} h"
        )
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lakehouse", description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="verb", required=True)
    s = sub.add_parser("contracts", help="list contracts, or validate them (exit 1 on any problem)")
    s.add_argument("action", nargs="?", choices=["list", "validate", "generate", "dbt-yaml"], default="list")
    s.add_argument(
        "--check", action="store_true", help="generate: only check that every contract generates its dbt files"
    )
    s.set_defaults(fn=_cmd_contracts)
    s = sub.add_parser("ingest", help="sector tables -> bronze Delta")
    s.add_argument("--sector")
    s.add_argument("--table")
    s.add_argument(
        "--batch-version",
        type=int,
        help="batch number (default: now in ms); rerunning the last committed batch is a no-op",
    )
    s.add_argument("--full-refresh", action="store_true", help="reload incremental tables as snapshots")
    s.add_argument("--dry-run", action="store_true")
    s.set_defaults(fn=_cmd_ingest)
    s = sub.add_parser("transform", help="dbt build: bronze -> silver -> gold")
    s.add_argument("--select", nargs="*")
    s.add_argument("--dry-run", action="store_true", help="compile only")
    s.set_defaults(fn=_cmd_transform)
    s = sub.add_parser("dbt", help="any dbt command with the project's environment (bin/dbt; Airflow's Cosmos)")
    s.add_argument("dbt_args", nargs=argparse.REMAINDER)
    s.set_defaults(fn=_cmd_dbt)
    s = sub.add_parser("publish", help="disclosure gate -> CKAN (all datasets: also withdraws orphans)")
    s.add_argument("--dataset")
    s.add_argument(
        "--withdrawn-only",
        action="store_true",
        help="only mark deleted the datasets whose contract is gone (publish without --dataset does it too)",
    )
    s.add_argument(
        "--dry-run", action="store_true", help="print the plan (create / update / skip / delete); change nothing"
    )
    s.set_defaults(fn=_cmd_publish)
    s = sub.add_parser("disclosure", help="the release-set disclosure audit (exit 3 on any finding)")
    s.add_argument("action", choices=["audit"])
    s.set_defaults(fn=_cmd_disclosure)
    s = sub.add_parser("dcat-check", help="validate the portal's DCAT output against the DCAT-AP 3.0.1 shapes")
    s.add_argument("--dataset")
    s.set_defaults(fn=_cmd_dcat_check)
    s = sub.add_parser("gateway", help="the ministries' SQL gateway (PostgreSQL wire): serve, or read its audit log")
    s.add_argument("action", choices=["serve", "audit"])
    s.add_argument("--ministry", help="audit: one ministry's records")
    s.add_argument("--denied", action="store_true", help="audit: denied statements and failed logins only")
    s.add_argument("--limit", type=int, default=50)
    s.set_defaults(fn=_cmd_gateway)
    s = sub.add_parser(
        "erasure", help="right to erasure: request (citizen ID read from a prompt or stdin), apply, status"
    )
    s.add_argument("action", choices=["request", "apply", "status"])
    s.add_argument("--no-publish", action="store_true", help="rebuild gold but do not publish to CKAN")
    s.set_defaults(fn=_cmd_erasure)
    s = sub.add_parser("quality", help="quarantine rates by rule, freshness vs SLA, completeness, dbt tests")
    s.add_argument("--table", help="one source table (sector.table or table)")
    s.add_argument("--strict", action="store_true", help="exit 3 when a table misses its threshold or SLA")
    s.set_defaults(fn=_cmd_quality)
    s = sub.add_parser("scorecard", help="data-governance scorecard per ministry (maturity levels 3-5)")
    s.add_argument("--publish", action="store_true", help="also publish it as a page on the portal")
    s.set_defaults(fn=_cmd_scorecard)
    s = sub.add_parser("subject", help="a citizen's access report: which ministries read rows about them")
    s.add_argument("action", choices=["access-report"])
    s.set_defaults(fn=_cmd_subject)
    sub.add_parser("status", help="lake tables and portal").set_defaults(fn=_cmd_status)
    s = sub.add_parser("maintain", help="compact and vacuum a zone's tables (retention from the contracts)")
    s.add_argument("--zone", choices=["bronze", "quarantine", "silver", "gold"])
    s.add_argument("--dry-run", action="store_true", help="list what vacuum would remove; change nothing")
    s.set_defaults(fn=_cmd_maintain)
    sub.add_parser("freshness", help="bronze tables vs their contract's freshness SLA (exit 3 if stale)").set_defaults(
        fn=_cmd_freshness
    )
    s = sub.add_parser("table", help="Delta table maintenance: history, time-travel read, compact, vacuum")
    s.add_argument("action", choices=["history", "read", "compact", "vacuum"])
    s.add_argument("table", help="path under the lake root, e.g. bronze/population/citizen")
    s.add_argument("--version", type=int, help="read: the Delta version to read (time travel)")
    s.add_argument("--limit", type=int, default=5, help="history entries / rows shown")
    s.add_argument("--retention-hours", type=int, default=168, help="vacuum: keep files newer than this")
    s.add_argument("--dry-run", action="store_true", help="vacuum: list, delete nothing")
    s.set_defaults(fn=_cmd_table)
    return p


def _is_permanent(exc: BaseException) -> bool:
    return isinstance(exc, PermanentError)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["dbt"]:  # everything after `dbt` is dbt's own (argparse would take --version etc.)
        argv = ["dbt", "--", *argv[1:]]
    args = parser().parse_args(argv)
    if args.verb == "dbt" and args.dbt_args[:1] == ["--"]:
        args.dbt_args = args.dbt_args[1:]
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    settings = Settings.from_env()
    try:
        return args.fn(settings, args)
    except (LakehouseError, RuntimeError, FileNotFoundError, ValueError, OSError) as exc:
        permanent = _is_permanent(exc)
        line = f"lakehouse {args.verb}: error{' (permanent, a retry will not help)' if permanent else ''}: {exc}"
        print(line, file=sys.stderr)
        if os.environ.get("LAKEHOUSE_ERROR_FILE"):  # orchestrators read the reason from here
            Path(os.environ["LAKEHOUSE_ERROR_FILE"]).write_text(line + "\n")
        return EXIT_PERMANENT if permanent else 1


if __name__ == "__main__":
    sys.exit(main())
