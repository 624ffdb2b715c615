#!/usr/bin/env bash
# make test: lint (beside the DAG tests), then the suite against real services. Data-side tests run in
# the data virtualenv; DAG tests run in the Airflow virtualenv (they import Airflow).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash infra/services.sh start
lint() {
  .venv-data/bin/ruff check .
  .venv-data/bin/ruff format --check .
  # the layers (pyproject.toml [tool.importlinter]): core -> contracts -> independent stages -> CLI
  PYTHONPATH="$ROOT" .venv-data/bin/lint-imports --no-cache
  bin/lakehouse contracts validate
  bin/lakehouse contracts generate --check
}
# The checks only read the tree: they run on the other core while the DAG tests run.
lint_log=$(mktemp) gateway_log=$(mktemp)
trap 'rm -f "$lint_log" "$gateway_log"' EXIT
lint >"$lint_log" 2>&1 &
lint_pid=$!
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
bash infra/airflow.sh init
dags_rc=0
AIRFLOW_HOME=${AIRFLOW_HOME:-${LAKEHOUSE_VAR:-$ROOT/var}/airflow} AIRFLOW__CORE__LOAD_EXAMPLES=False \
  .venv-airflow/bin/python -m pytest -q -p no:cacheprovider tests/dags "$@" || dags_rc=$?
lint_rc=0
wait "$lint_pid" || lint_rc=$?
cat "$lint_log"
[ "$lint_rc" = 0 ] || { echo "[test] lint failed (above)" >&2; exit "$lint_rc"; }
[ "$dags_rc" = 0 ] || [ "$dags_rc" = 5 ] || exit "$dags_rc"  # 5: no test selected by the arguments given
if [ "$#" -gt 0 ]; then  # a selection (`infra/test.sh -k …` or paths): one pytest
  .venv-data/bin/python -m pytest -q -p no:cacheprovider --durations=10 --ignore=tests/dags tests "$@"
  exit
fi
# The gateway's tests share nothing with the others (their own lakes, folders and free ports; no source
# database, portal, dbt project or Airflow): a second pytest runs them beside the rest, which spends
# much of its time waiting on Airflow, CKAN and dbt subprocesses.
.venv-data/bin/python -m pytest -q -p no:cacheprovider tests/gateway >"$gateway_log" 2>&1 &
gateway_pid=$!
rc=0
.venv-data/bin/python -m pytest -q -p no:cacheprovider --durations=10 --ignore=tests/dags --ignore=tests/gateway \
  tests || rc=$?
gateway_rc=0
wait "$gateway_pid" || gateway_rc=$?
echo "--- tests/gateway (run beside the others)"
cat "$gateway_log"
[ "$rc" = 0 ] || exit "$rc"
exit "$gateway_rc"
