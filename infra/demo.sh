#!/usr/bin/env bash
# make demo: seed the sector databases, run every DAG through the real Airflow scheduler, print where to look.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SCALE=${1:-20000}
bash infra/services.sh start
bash infra/ckan.sh start
PYTHONPATH=. .venv-data/bin/python -m synthetic seed --scale "$SCALE"
# The real scheduler (PostgreSQL metadata, LocalExecutor), driven through its REST API: every sector's
# ingestion DAG, then the asset-triggered dbt DAG (Cosmos, a task per model) and the publishing DAG.
bash infra/airflow.sh start
since=$(date -u +%Y-%m-%dT%H:%M:%S)
bash infra/airflow.sh api unpause lakehouse_transform lakehouse_publish
sectors=$(bin/lakehouse contracts | awk '$1 == "source" { split($2, a, "."); print "ingest__" a[1] }' | sort -u | tr '\n' ' ')
echo "[demo] triggering $sectors (full refresh: the seed rebuilt the sources)"
# shellcheck disable=SC2086
bash infra/airflow.sh api trigger $sectors --conf '{"full_refresh": true}' --wait
echo "[demo] waiting for the asset-triggered dbt run (lakehouse_transform) and publishing (lakehouse_publish)"
bash infra/airflow.sh api wait lakehouse_transform --since "$since"
bash infra/airflow.sh api wait lakehouse_publish --since "$since"
bin/lakehouse status
echo "[demo] republish plan (unchanged data: every file skips):"
bin/lakehouse publish --dry-run | grep -E "^plan:" || true
echo "[demo] DCAT-AP 3.0.1 conformance of the portal (SHACL):"
bin/lakehouse dcat-check || echo "[demo] warning: DCAT-AP check did not pass (see above)"
echo "[demo] data quality per source table and dataset:"
bin/lakehouse quality || true
echo "[demo] data-governance scorecard per ministry (published as a portal page):"
bin/lakehouse scorecard --publish || echo "[demo] warning: the scorecard could not be published"
echo "[demo] SQL gateway for the ministries (restarted to serve the new tables):"
bash infra/gateway.sh start
CKAN_URL=$(bash infra/ckan.sh url)
echo
echo "Open data portal:  $CKAN_URL/dataset/   (every open dataset, with its disclosure report)"
bin/lakehouse contracts | awk -v url="$CKAN_URL" '$1 == "dataset" { print "                   " url "/dataset/" $2 }'
echo "                   in Vietnamese: $CKAN_URL/vi/dataset/   data API: $CKAN_URL/api/3/action/datastore_search?resource_id=<csv id>"
echo "                   governance scorecard: $CKAN_URL/dataset/data-governance-scorecard"
echo "DCAT-AP 3:         $CKAN_URL/catalog.ttl  and  $CKAN_URL/dataset/<name>.ttl | .jsonld"
echo "Lake (Delta):      ${LAKE_ROOT:-${LAKEHOUSE_VAR:-$ROOT/var}/lake}  (bronze/ silver/ gold/ quarantine/)"
echo "SQL gateway:       psql \"host=${LAKEHOUSE_GATEWAY_HOST:-127.0.0.1} port=${LAKEHOUSE_GATEWAY_PORT:-6543} user=ministry-of-health dbname=lakehouse\""
echo "                   password: bash infra/gateway.sh password ministry-of-health   (all: ${LAKEHOUSE_GATEWAY_PASSWORDS_FILE:-~/.config/lakehouse/gateway-passwords.json})"
echo "                   or simply: bash infra/gateway.sh psql ministry-of-health     audit: bin/lakehouse gateway audit"
echo "Airflow UI:        http://127.0.0.1:${AIRFLOW_PORT:-8080}   user admin, password in ${LAKEHOUSE_VAR:-$ROOT/var}/airflow-server/simple_auth_manager_passwords.json.generated"
echo "Citizens:          bin/lakehouse erasure request   (right to erasure)   bin/lakehouse subject access-report"
echo "Stop everything:   make stop"
