#!/usr/bin/env bash
# Airflow 3 for the local demo and tests: its own virtualenv (.venv-airflow), DAGs from dags/.
#   infra/airflow.sh init            migrate the metadata DB (once; quick afterwards), parse dbt, pools
#   infra/airflow.sh test DAG_ID     run one DAG run end to end in-process (SQLite in $LAKEHOUSE_VAR/airflow)
#   infra/airflow.sh start | stop | status    scheduler + API server (airflow standalone, LocalExecutor)
#                                    with a PostgreSQL metadata database (AIRFLOW_PG_DB=airflow), on
#                                    AIRFLOW_PORT=8080; home $LAKEHOUSE_VAR/airflow-server
#   infra/airflow.sh api trigger DAG_ID [--conf JSON] [--wait]    the REST API (infra/airflow_api.py;
#                                      also: wait, unpause, timeline, events)
#   infra/airflow.sh <airflow args>  any airflow command with this environment
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/pids.sh
. "$ROOT/infra/lib/pids.sh"
VENV="$ROOT/.venv-airflow"
[ -x "$VENV/bin/airflow" ] || { echo "[airflow] $VENV missing: run make setup" >&2; exit 1; }
export LAKEHOUSE_VAR=${LAKEHOUSE_VAR:-$ROOT/var}
export AIRFLOW_HOME=${AIRFLOW_HOME:-$LAKEHOUSE_VAR/airflow}
export AIRFLOW__CORE__DAGS_FOLDER=${AIRFLOW__CORE__DAGS_FOLDER:-$ROOT/dags}
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__UNIT_TEST_MODE=False
# No usage telemetry from Cosmos (and no network here).
export AIRFLOW__COSMOS__ENABLE_TELEMETRY=False DO_NOT_TRACK=1 SCARF_ANALYTICS=false
# The dbt producer never retries (orchestration/dbt_task_group.py): Cosmos' copy of every XCom it writes,
# kept in a Variable for a retry, would only cost an API call per write.
export AIRFLOW__COSMOS__ENABLE_WATCHER_RELIABLE_RETRY=False
export AIRFLOW__LOGGING__LOGGING_LEVEL=${AIRFLOW__LOGGING__LOGGING_LEVEL:-WARNING}
# OpenLineage events of every task run (the provider; Cosmos adds dbt's): Marquez when OPENLINEAGE_URL
# is set (production compose), else appended to a file beside the pipeline's own events.
export AIRFLOW__OPENLINEAGE__NAMESPACE=${AIRFLOW__OPENLINEAGE__NAMESPACE:-lakehouse}
# Each task's events are sent from a thread, not a fork of the task runner (the provider's opt-in,
# which also cannot strand a task): 0.08 s less per task here, measured on 30 tasks in `dags test`.
export AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD=${AIRFLOW__OPENLINEAGE__EXECUTE_IN_THREAD:-True}
if [ -z "${OPENLINEAGE_URL:-}" ] && [ -z "${AIRFLOW__OPENLINEAGE__TRANSPORT:-}" ]; then
  mkdir -p "$LAKEHOUSE_VAR/openlineage"
  export AIRFLOW__OPENLINEAGE__TRANSPORT="{\"type\": \"file\", \"log_file_path\": \"$LAKEHOUSE_VAR/openlineage/airflow.jsonl\", \"append\": true}"
fi
# DAG files import the contracts (repo root) and call bin/lakehouse.
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
export PATH="$VENV/bin:$PATH"
mkdir -p "$AIRFLOW_HOME"

# Service mode (start / stop / status / api): its own home and a PostgreSQL metadata database.
if [[ "${1:-}" =~ ^(start|stop|status|api)$ ]]; then
  PG_HOST=${PG_HOST:-127.0.0.1}
  PG_PORT=${PG_PORT:-5432}
  AIRFLOW_PG_DB=${AIRFLOW_PG_DB:-airflow}
  PORT=${AIRFLOW_PORT:-8080}
  API="http://127.0.0.1:$PORT"
  export AIRFLOW_HOME=${AIRFLOW_SERVER_HOME:-$LAKEHOUSE_VAR/airflow-server}
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg://postgres@$PG_HOST:$PG_PORT/$AIRFLOW_PG_DB"
  export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC="postgresql+psycopg_async://postgres@$PG_HOST:$PG_PORT/$AIRFLOW_PG_DB"
  export AIRFLOW__CORE__EXECUTOR=LocalExecutor
  export AIRFLOW__CORE__PARALLELISM=${AIRFLOW__CORE__PARALLELISM:-4}
  export AIRFLOW__API__PORT=$PORT AIRFLOW__API__HOST=127.0.0.1 AIRFLOW__API__BASE_URL=$API
  export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$API/execution/"
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=admin:admin
  export AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC=2 AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
  PASSWORDS="$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated"
  mkdir -p "$AIRFLOW_HOME"
fi

case "${1:-}" in
  init)
    # A new home's SQLite metadata DB is a copy of one migrated before by this Airflow, pools included
    # (8 s saved for every test that runs `airflow dags test` in a home of its own); PostgreSQL is
    # migrated. The copy is per pool sizes, which are part of it.
    spark_slots=${LAKEHOUSE_SPARK_SLOTS:-2}
    template="${LAKEHOUSE_CACHE:-$HOME/.cache/lakehouse}/airflow-sqlite/airflow-pools1-spark$spark_slots.db"
    sqlite_home=$([ -z "${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-}" ] && echo 1 || true)
    fresh=""  # a database migrated just now: once it has the pools, it becomes the template
    if [ ! -f "$AIRFLOW_HOME/.migrated" ] || [ "$AIRFLOW_HOME/.migrated" -ot "$VENV/bin/airflow" ]; then
      mkdir -p "$AIRFLOW_HOME"
      if [ -n "$sqlite_home" ] && [ "$template" -nt "$VENV/bin/airflow" ] && [ ! -f "$AIRFLOW_HOME/airflow.db" ]; then
        cp "$template" "$AIRFLOW_HOME/airflow.db"
        touch "$AIRFLOW_HOME/.pools-1"
      else
        echo "[airflow] migrating metadata DB in $AIRFLOW_HOME"
        airflow db migrate >"$AIRFLOW_HOME/migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/migrate.log" >&2; exit 1; }
        fresh=1
      fi
      touch "$AIRFLOW_HOME/.migrated"
    fi
    # Cosmos renders the dbt tasks from dbt's manifest: parse the project when it changed.
    manifest="$ROOT/dbt_project/target/manifest.json"
    if [ ! -f "$manifest" ] || [ -n "$(find "$ROOT/dbt_project" "$ROOT/data_contracts" -newer "$manifest" \
         \( -name '*.sql' -o -name '*.yml' -o -name '*.yaml' -o -name '*.csv' -o -name '*.py' \) -not -path '*/target/*' -print -quit)" ]; then
      echo "[airflow] parsing the dbt project for Cosmos (dbt_project/target/manifest.json)"
      "$ROOT/bin/dbt" parse --quiet >"$AIRFLOW_HOME/dbt-parse.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/dbt-parse.log" >&2; exit 1; }
    fi
    if [ ! -f "$AIRFLOW_HOME/.pools-1" ]; then
      # One writer per DuckDB file (dbt, silver/gold upkeep); Spark JVMs at once on this machine.
      pools="$AIRFLOW_HOME/pools.json"  # one Airflow start for both
      cat >"$pools" <<JSON
{"lakehouse_duckdb": {"slots": 1, "description": "one writer per DuckDB file (dbt, silver/gold upkeep)"},
 "lakehouse_spark": {"slots": $spark_slots, "description": "Spark ingestion jobs at once"}}
JSON
      airflow pools import "$pools" >/dev/null
      touch "$AIRFLOW_HOME/.pools-1"
      if [ -n "$sqlite_home" ] && [ -n "$fresh" ] && [ -f "$AIRFLOW_HOME/airflow.db" ]; then
        mkdir -p "$(dirname "$template")"
        cp "$AIRFLOW_HOME/airflow.db" "$template.$$" && mv "$template.$$" "$template"  # atomic for parallel inits
      fi
    fi
    ;;
  start)
    # The real thing: scheduler, DAG processor, triggerer and API server (airflow standalone) with a
    # PostgreSQL metadata database and the LocalExecutor. Idempotent; the UI and REST API on $PORT.
    if curl -sf -o /dev/null "$API/api/v2/monitor/health"; then
      echo "[airflow] already running: $API"; exit 0
    fi
    if [ "$(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$AIRFLOW_PG_DB'")" != 1 ]; then
      createdb -h "$PG_HOST" -p "$PG_PORT" -U postgres "$AIRFLOW_PG_DB"
      rm -f "$AIRFLOW_HOME/.migrated" "$AIRFLOW_HOME/.pools-1"
    fi
    "$0" init
    echo "[airflow] starting the scheduler and API server on $API (log: $AIRFLOW_HOME/standalone.log)"
    start_bg "$AIRFLOW_HOME/standalone.pid" "$AIRFLOW_HOME/standalone.log" airflow standalone  # stop kills its group
    for _ in $(seq 1 240); do
      curl -sf -o /dev/null "$API/api/v2/monitor/health" && [ -s "$PASSWORDS" ] && break
      kill -0 "$(cat "$AIRFLOW_HOME/standalone.pid")" 2>/dev/null || { tail -30 "$AIRFLOW_HOME/standalone.log" >&2; exit 1; }
      sleep 0.5
    done
    curl -sf -o /dev/null "$API/api/v2/monitor/health" || { tail -30 "$AIRFLOW_HOME/standalone.log" >&2; exit 1; }
    echo "[airflow] ready: UI $API (user admin; password in $PASSWORDS)"
    ;;
  stop)
    stop_pid airflow "$AIRFLOW_HOME/standalone.pid"
    ;;
  status)
    curl -sf -o /dev/null "$API/api/v2/monitor/health" && echo "Airflow     up   $API" || echo "Airflow     down $API" ;;
  api)
    # REST API client (trigger, wait): infra/airflow_api.py
    shift
    exec "$VENV/bin/python" "$ROOT/infra/airflow_api.py" --url "$API" --password-file "$PASSWORDS" "$@" ;;
  test)
    # `airflow dags test` can exit 0 after a failed task: judge by the DagRun's final state instead.
    shift
    "$0" init
    out=$(mktemp)
    trap 'rm -f "$out"' EXIT
    # tasks run one after another in this process (orchestration/dbt_task_group.py orders dbt's by it)
    LAKEHOUSE_AIRFLOW_IN_PROCESS=1 AIRFLOW__LOGGING__LOGGING_LEVEL=INFO airflow dags test "$@" 2>&1 | tee "$out" || true
    if ! grep -q "DagRun Finished: .*state=success" "$out"; then
      echo "[airflow] the DAG run of $1 did not succeed. Errors reported by the tasks:" >&2
      grep -oE "(lakehouse [a-z]+: error: |ERROR ).*" "$out" | sed 's/ \[airflow\.task.*//' | sort -u >&2 || true
      exit 1
    fi
    ;;
  "")
    echo "usage: $0 init | test DAG_ID | start | stop | status | api trigger|wait … | <airflow args>" >&2; exit 2 ;;
  *)
    exec airflow "$@" ;;
esac
