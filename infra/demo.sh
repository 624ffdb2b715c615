#!/usr/bin/env bash
# make demo: seed the sector databases, run national_open_data through Airflow, print where to look.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SCALE=${1:-20000}
bash infra/services.sh start
bash infra/ckan.sh start
bin/lakehouse seed --scale "$SCALE"
LOG="${LAKEHOUSE_VAR:-$ROOT/var}/demo-airflow.log"
echo "[demo] running DAG national_open_data through Airflow (airflow dags test); log: $LOG"
# The seed rebuilt the sources, so the run reloads incremental tables in full (conf full_refresh).
bash infra/airflow.sh test national_open_data --conf '{"full_refresh": true}' >"$LOG" 2>&1 || {
  grep -E "ERROR|error:|Traceback|failed" "$LOG" | tail -20 >&2
  echo "[demo] the Airflow run failed; full log: $LOG" >&2
  exit 1
}
grep -oE "running task <TaskInstance: national_open_data\.[a-z0-9_]+" "$LOG" | sed 's/.*national_open_data\./[demo]   ran /' || true
grep -oE "DagRun Finished: .*" "$LOG" | grep -oE "dag_id=[a-z_]+|run_duration=[0-9]+|state=[a-z]+" | tr '\n' ' ' | sed 's/^/[demo] DAG run finished: /'; echo
bin/lakehouse status
echo "[demo] republish plan (unchanged data: every file skips):"
bin/lakehouse publish --dry-run | grep -E "^plan:" || true
echo "[demo] DCAT-AP 3.0.1 conformance of the portal (SHACL):"
bin/lakehouse dcat-check || echo "[demo] warning: DCAT-AP check did not pass (see above)"
echo "[demo] SQL gateway for the ministries (restarted to serve the new tables):"
bash infra/gateway.sh start
CKAN_URL=$(bash infra/ckan.sh url)
echo
echo "Open data portal:  $CKAN_URL/dataset/   (every open dataset, with its disclosure report)"
bin/lakehouse contracts | awk -v url="$CKAN_URL" '$1 == "dataset" { print "                   " url "/dataset/" $2 }'
echo "DCAT-AP 3:         $CKAN_URL/catalog.ttl  and  $CKAN_URL/dataset/<name>.ttl | .jsonld"
echo "Lake (Delta):      ${LAKE_ROOT:-${LAKEHOUSE_VAR:-$ROOT/var}/lake}  (bronze/ silver/ gold/ quarantine/)"
echo "SQL gateway:       psql \"host=${LAKEHOUSE_GATEWAY_HOST:-127.0.0.1} port=${LAKEHOUSE_GATEWAY_PORT:-6543} user=ministry-of-health dbname=lakehouse\""
echo "                   password: bash infra/gateway.sh password ministry-of-health   (all: ${LAKEHOUSE_GATEWAY_PASSWORDS_FILE:-~/.config/lakehouse/gateway-passwords.json})"
echo "                   or simply: bash infra/gateway.sh psql ministry-of-health     audit: bin/lakehouse gateway audit"
echo "Stop the portal and the gateway:   make stop"
