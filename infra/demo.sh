#!/usr/bin/env bash
# make demo: seed the sector databases, run national_open_data through Airflow, print where to look.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SCALE=${1:-20000}
bash infra/services.sh start
bash infra/ckan.sh start
bin/lakehouse seed --scale "$SCALE"
bash infra/airflow.sh test national_open_data >"${LAKEHOUSE_VAR:-$ROOT/var}/demo-airflow.log" 2>&1 || {
  tail -40 "${LAKEHOUSE_VAR:-$ROOT/var}/demo-airflow.log" >&2
  echo "[demo] the Airflow run failed; full log: ${LAKEHOUSE_VAR:-$ROOT/var}/demo-airflow.log" >&2
  exit 1
}
grep -E "state=|Marking run|DagRun Finished" "${LAKEHOUSE_VAR:-$ROOT/var}/demo-airflow.log" | tail -8 || true
bin/lakehouse status
CKAN_URL=$(bash infra/ckan.sh url)
echo
echo "Open data portal:  $CKAN_URL/dataset/population_by_province_age_sex"
echo "Lake (Delta):      ${LAKE_ROOT:-${LAKEHOUSE_VAR:-$ROOT/var}/lake}  (bronze/ silver/ gold/ quarantine/)"
echo "Stop the portal:   make stop"
