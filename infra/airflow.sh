#!/usr/bin/env bash
# Airflow 3 for the local demo and tests: its own virtualenv (.venv-airflow), metadata in SQLite under
# $LAKEHOUSE_VAR/airflow, DAGs from dags/. Production points AIRFLOW__DATABASE__SQL_ALCHEMY_CONN at
# PostgreSQL and runs a scheduler; here `airflow dags test` runs a DAG without one.
#   infra/airflow.sh init            migrate the metadata DB (once; quick afterwards)
#   infra/airflow.sh test DAG_ID     run one DAG run end to end in-process
#   infra/airflow.sh <airflow args>  any airflow command with this environment
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.venv-airflow"
[ -x "$VENV/bin/airflow" ] || { echo "[airflow] $VENV missing: run make setup" >&2; exit 1; }
export LAKEHOUSE_VAR=${LAKEHOUSE_VAR:-$ROOT/var}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$LAKEHOUSE_VAR/airflow}
export AIRFLOW__CORE__DAGS_FOLDER=${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/dags}
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
# No usage telemetry from Cosmos (and no network here).
export AIRFLOW__COSMOS__ENABLE_TELEMETRY=False DO_NOT_TRACK=1 SCARF_ANALYTICS=false
export AIRFLOW__LOGGING__LOGGING_LEVEL=${AIRFLOW__LOGGING__LOGGING_LEVEL:-WARNING}
# DAG files import the contracts (repo root) and call bin/lakehouse.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$VENV/bin:$PATH"
mkdir -p "$AIRFLOW_HOME"

case "${1:-}" in
  init)
    if [ ! -f "$AIRFLOW_HOME/.migrated" ] || [ "$AIRFLOW_HOME/.migrated" -ot "$VENV/bin/airflow" ]; then
      echo "[airflow] migrating metadata DB in $AIRFLOW_HOME"
      airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/migrate.log" >&2; exit 1; }
      touch "$AIRFLOW_HOME/.migrated"
    fi
    # Cosmos renders the dbt tasks from dbt's manifest: parse the project when it changed.
    manifest="$ROOT/dbt_project/target/manifest.json"
    if [ ! -f "$manifest" ] || [ -n "$(find "$ROOT/dbt_project" "$ROOT/data_contracts" -newer "$manifest" \
         \( -name '*.sql' -o -name '*.yml' -o -name '*.yaml' -o -name '*.csv' -o -name '*.py' \) -not -path '*/target/*' -print -quit)" ]; then
      echo "[airflow] parsing the dbt project for Cosmos (dbt_project/target/manifest.json)"
      "$ROOT/bin/dbt" parse --quiet >"$AIRFLOW_HOME/dbt-parse.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/dbt-parse.log" >&2; exit 1; }
    fi
    # One writer per DuckDB file: every dbt task and silver/gold maintenance share one slot.
    airflow pools set lakehouse_duckdb 1 "one writer per DuckDB file (dbt, silver/gold upkeep)" >/dev/null 2>&1 || true
    ;;
  test)
    # `airflow dags test` can exit 0 after a failed task: judge by the DagRun's final state instead.
    shift
    "$0" init
    out=$(mktemp)
    trap 'rm -f "$out"' EXIT
    AIRFLOW__LOGGING__LOGGING_LEVEL=INFO airflow dags test "$@" 2>&1 | tee "$out" || true
    if ! grep -q "DagRun Finished: .*state=success" "$out"; then
      echo "[airflow] the DAG run of $1 did not succeed. Errors reported by the tasks:" >&2
      grep -oE "(lakehouse [a-z]+: error: |ERROR ).*" "$out" | sed 's/ \[airflow\.task.*//' | sort -u >&2 || true
      exit 1
    fi
    ;;
  "")
    echo "usage: $0 init | test DAG_ID | <airflow args>" >&2; exit 2 ;;
  *)
    exec airflow "$@" ;;
esac
