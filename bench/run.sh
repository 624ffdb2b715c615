#!/usr/bin/env bash
# make bench: every benchmark prints its figure (a ratio against a baseline in the same run) last.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash infra/services.sh start
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
for b in bench/ingest_*.py bench/dbt_scaling.py bench/dbt_airflow_vs_cli.py bench/publish_republish.py bench/gateway_vs_duckdb.py bench/release_audit.py \
         bench/whole_chain.py; do
  echo "== $b"
  # dbt and Spark chatter filtered out; a failing benchmark still fails the run (pipefail)
  .venv-data/bin/python -m "bench.$(basename "$b" .py)" "$@" 2>&1 \
    | { grep -v -E $'WARN|log4j|setLogLevel|^\\[Stage|^INFO|warn|\e\\[' || true; }
done
