#!/usr/bin/env bash
# make test: lint, then the suite against real services. Data-side tests run in the data virtualenv;
# DAG tests run in the Airflow virtualenv (they import Airflow).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
bash infra/services.sh start
.venv-data/bin/ruff check .
.venv-data/bin/ruff format --check .
# the layers (pyproject.toml [tool.importlinter]): core -> contracts -> independent stages -> CLI
PYTHONPATH="$ROOT" .venv-data/bin/lint-imports --no-cache
bin/lakehouse contracts validate
bin/lakehouse contracts generate --check
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
bash infra/airflow.sh init
AIRFLOW_HOME=${AIRFLOW_HOME:-${LAKEHOUSE_VAR:-$ROOT/var}/airflow} AIRFLOW__CORE__LOAD_EXAMPLES=False \
  .venv-airflow/bin/python -m pytest -q -p no:cacheprovider tests/dags "$@"
.venv-data/bin/python -m pytest -q -p no:cacheprovider --durations=10 --ignore=tests/dags tests "$@"
