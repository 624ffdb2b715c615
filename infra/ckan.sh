#!/usr/bin/env bash
# Local CKAN 2.12 portal for the demo and tests, with the TEST-ONLY Solr stand-in it needs.
#   infra/ckan.sh start    idempotent: Solr stand-in, database, ckan.ini, sysadmin + API token, server
#   infra/ckan.sh stop     stop CKAN and the stand-in by their PID files (never by name)
#   infra/ckan.sh status | url | token
#   infra/ckan.sh tracking  aggregate page views and downloads (`ckan tracking update`; a cron job in production)
# Settings (environment, with defaults): CKAN_HOST=127.0.0.1 CKAN_PORT=5000 CKAN_URL SOLR_PORT=8983
# CKAN_DB=ckan_portal PG_HOST=127.0.0.1 PG_PORT=5432 REDIS_URL LAKEHOUSE_VAR=./var CKAN_DIR=$LAKEHOUSE_VAR/ckan
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VENV="$ROOT/.venv-ckan"
CKAN_HOST=${CKAN_HOST:-127.0.0.1}
CKAN_PORT=${CKAN_PORT:-5000}
CKAN_URL=${CKAN_URL:-http://$CKAN_HOST:$CKAN_PORT}
SOLR_PORT=${SOLR_PORT:-8983}
SOLR_URL="http://127.0.0.1:$SOLR_PORT/solr/ckan"
CKAN_DB=${CKAN_DB:-ckan_portal}
DATASTORE_DB=${CKAN_DB}_datastore  # the DataStore (data API, previews): its own database, a read-only role
PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
REDIS_URL=${REDIS_URL:-redis://127.0.0.1:6379/1}
LAKEHOUSE_VAR=${LAKEHOUSE_VAR:-$ROOT/var}
DIR=${CKAN_DIR:-$LAKEHOUSE_VAR/ckan}
INI="$DIR/ckan.ini"
ADMIN=lakehouse_admin

log() { printf '[ckan] %s\n' "$*"; }
die() { printf '[ckan] error: %s\n' "$*" >&2; exit 1; }
answers() { curl -sf -o /dev/null --max-time 3 "$1"; }
ckan_up() { answers "$CKAN_URL/api/3/action/status_show"; }
solr_up() { answers "$SOLR_URL/admin/ping"; }
# shellcheck source=lib/pids.sh
. "$ROOT/infra/lib/pids.sh"
ckan() { "$VENV/bin/ckan" -c "$INI" "$@"; }

wait_until() {  # what, check, seconds, log file
  for _ in $(seq 1 $(($3 * 4))); do "$2" && return 0; sleep 0.25; done
  tail -30 "$4" >&2 || true
  die "$1 did not answer within $3 s; log: $4"
}

start_solr() {
  solr_up && return 0
  log "starting the TEST-ONLY Solr stand-in on :$SOLR_PORT"
  start_bg "$DIR/solr.pid" "$DIR/solr.log" "$VENV/bin/python" "$ROOT/dev/solr_standin.py" \
    --host 127.0.0.1 --port "$SOLR_PORT" --data-file "$DIR/solr-index.json"
  wait_until "Solr stand-in" solr_up 20 "$DIR/solr.log"
}

configure() {
  local exists
  exists=$(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$CKAN_DB'")
  if [ -f "$DIR/.db-initialised" ] && { [ "$exists" != 1 ] || [ "$(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres \
      -d "$CKAN_DB" -tAc "SELECT to_regclass('public.api_token') IS NOT NULL")" != t ]; }; then
    # The folder says initialised but the database is gone or empty (dropped by hand, or by another
    # folder that used the same name): start the portal afresh rather than serve errors.
    log "database $CKAN_DB is missing or empty: initialising the portal again"
    rm -f "$DIR/.db-initialised"
  fi
  if [ ! -f "$DIR/.db-initialised" ]; then
    # The database, the uploaded files and the search index form one portal. A database whose folder
    # is gone (a fresh clone, a deleted var/) points at files that no longer exist: start it afresh.
    if [ "$exists" = 1 ]; then
      log "database $CKAN_DB has no portal folder at $DIR: recreating it"
      dropdb -h "$PG_HOST" -p "$PG_PORT" -U postgres "$CKAN_DB"
    fi
    log "creating database $CKAN_DB"
    createdb -h "$PG_HOST" -p "$PG_PORT" -U postgres "$CKAN_DB"
    dropdb -h "$PG_HOST" -p "$PG_PORT" -U postgres --if-exists "$DATASTORE_DB"  # tables of the old portal
    rm -f "$DIR/api_token" "$DIR/solr-index.json" "$DIR/.tracking-tables"
  fi
  if [ ! -f "$INI" ]; then
    "$VENV/bin/ckan" generate config "$INI" >/dev/null
  fi
  # Re-applied on every cold start so a changed port or URL takes effect; site_url must be the real
  # host:port because CKAN builds resource download URLs from it.
  "$VENV/bin/ckan" config-tool "$INI" \
    "sqlalchemy.url=postgresql://postgres@$PG_HOST:$PG_PORT/$CKAN_DB" \
    "ckan.site_url=$CKAN_URL" \
    "solr_url=$SOLR_URL" \
    "ckan.redis.url=$REDIS_URL" \
    "ckan.storage_path=$DIR/storage" \
    "ckan.max_resource_size=500" \
    "ckan.plugins=activity scheming_datasets dcat dcat_json_interface structured_data image_view text_view datastore datatables_view charts_view lakehouse_language tracking" \
    "ckan.datastore.write_url=postgresql://postgres@$PG_HOST:$PG_PORT/$DATASTORE_DB" \
    "ckan.datastore.read_url=postgresql://datastore_ro@$PG_HOST:$PG_PORT/$DATASTORE_DB" \
    "ckan.datastore.sqlsearch.enabled=true" \
    "ckanext.charts.cache_strategy=redis" \
    "scheming.dataset_schemas=ckanext.lakehouse:schemas/dataset.yaml" \
    "scheming.presets=ckanext.scheming:presets.json ckanext.dcat.schemas:presets.yaml" \
    "ckanext.dcat.rdf.profiles=euro_dcat_ap_3 lakehouse_dcat_ap_3" \
    "ckanext.dcat.base_uri=$CKAN_URL" \
    "ckanext.dcat.resource.inherit.license=true" \
    "ckan.views.default_views=image_view text_view" \
    "ckan.site_title=National Open Data Portal (local)" \
    "ckan.site_description=Open datasets of the national lakehouse: standardised, anonymised, with provenance." \
    "ckan.locale_default=en" \
    "ckan.locales_offered=en vi" \
    "lakehouse.catalog_publisher_name=${CKAN_CATALOG_PUBLISHER:-National Data Centre (local demo)}" \
    "lakehouse.catalog_publisher_uri=${CKAN_CATALOG_PUBLISHER_URI:-$CKAN_URL/about}" >/dev/null
  mkdir -p "$DIR/storage"
  # the DataStore's database must exist before `ckan db init` (the plugin connects to it)
  if [ "$(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -tAc \
      "SELECT 1 FROM pg_database WHERE datname='$DATASTORE_DB'")" != 1 ]; then
    log "creating the DataStore database $DATASTORE_DB"
    createdb -h "$PG_HOST" -p "$PG_PORT" -U postgres "$DATASTORE_DB"
    psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -q -c "DO \$\$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles
      WHERE rolname = 'datastore_ro') THEN CREATE ROLE datastore_ro LOGIN; END IF; END \$\$" >/dev/null
    rm -f "$DIR/.datastore-permissions"
  fi
  if [ ! -f "$DIR/.db-initialised" ] || [ "$DIR/.db-initialised" -ot "$VENV/bin/ckan" ]; then
    log "initialising the CKAN database"
    ckan db init >"$DIR/db-init.log" 2>&1 || { tail -20 "$DIR/db-init.log" >&2; die "ckan db init failed"; }
    touch "$DIR/.db-initialised"
    # `db init` also migrates every enabled plugin: tracking's tables exist (it was enabled above)
    grep -q "migrations for tracking" "$DIR/db-init.log" && touch "$DIR/.tracking-tables"
  fi
  if [ ! -f "$DIR/.tracking-tables" ]; then  # a portal initialised before tracking: page views and downloads
    ckan db upgrade -p tracking >"$DIR/tracking-upgrade.log" 2>&1 \
      || { tail -20 "$DIR/tracking-upgrade.log" >&2; die "could not create the tracking tables"; }
    touch "$DIR/.tracking-tables"
  fi
  if [ ! -f "$DIR/.datastore-permissions" ]; then
    # the read-only role may read the DataStore's tables and nothing else (CKAN writes the grants)
    ckan datastore set-permissions 2>/dev/null | psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d "$DATASTORE_DB" \
      -q --set ON_ERROR_STOP=1 >"$DIR/datastore-permissions.log" 2>&1 \
      || { tail -20 "$DIR/datastore-permissions.log" >&2; die "could not set the DataStore's permissions"; }
    touch "$DIR/.datastore-permissions"
  fi
  if [ ! -s "$DIR/api_token" ]; then
    # Each `ckan` command loads the whole app (2.5 s): `sysadmin add --create` makes the user when it
    # is missing (with this password; an existing one keeps its own) and the sysadmin in one.
    if [ ! -s "$DIR/admin_password" ]; then
      (umask 077; "$VENV/bin/python" -c 'import secrets; print(secrets.token_urlsafe(18))' >"$DIR/admin_password")
    fi
    ckan sysadmin add "$ADMIN" --create email="$ADMIN@localhost" password="$(cat "$DIR/admin_password")" \
      >"$DIR/sysadmin.log" 2>&1 || { tail -20 "$DIR/sysadmin.log" >&2; die "could not make $ADMIN a sysadmin"; }
    (umask 077; ckan user token add "$ADMIN" lakehouse-publisher 2>/dev/null | tail -n 1 | tr -d '[:space:]' >"$DIR/api_token")
    [ -s "$DIR/api_token" ] || die "could not create an API token for $ADMIN"
  fi
}

start() {
  [ -x "$VENV/bin/ckan" ] || die "$VENV missing: run make setup first"
  mkdir -p "$DIR"
  start_solr
  local ext
  ext=$(cd "$VENV" && ls .lakehouse-ckan-* 2>/dev/null || true)  # the portal extension's install stamp
  if ckan_up; then
    [ -s "$DIR/api_token" ] || die "$CKAN_URL is served by a CKAN this folder ($DIR) did not start; set CKAN_PORT"
    if [ "$(cat "$DIR/ckan.ext" 2>/dev/null)" = "$ext" ] || ! pid_alive "$DIR/ckan.pid"; then
      return 0
    fi
    log "the portal's CKAN extension changed since this server started: restarting it"
    stop_pid CKAN "$DIR/ckan.pid"
  fi
  # a start that fails (configuration, database, CKAN itself) leaves nothing of ours running
  trap 'stop_pid CKAN "$DIR/ckan.pid"; stop_pid "Solr stand-in" "$DIR/solr.pid"' EXIT
  configure
  log "starting CKAN on $CKAN_URL"
  start_bg "$DIR/ckan.pid" "$DIR/ckan.log" \
    "$VENV/bin/ckan" -c "$INI" run -H "$CKAN_HOST" -p "$CKAN_PORT" --disable-reloader --threaded
  echo "$ext" >"$DIR/ckan.ext"
  wait_until "CKAN" ckan_up 90 "$DIR/ckan.log"
  trap - EXIT
  log "ready: $CKAN_URL (sysadmin $ADMIN; token in $DIR/api_token)"
}

case "${1:-}" in
  start) start ;;
  stop) stop_pid CKAN "$DIR/ckan.pid"; stop_pid "Solr stand-in" "$DIR/solr.pid" ;;
  status)
    ckan_up && echo "CKAN        up   $CKAN_URL" || echo "CKAN        down $CKAN_URL"
    solr_up && echo "Solr (test) up   $SOLR_URL" || echo "Solr (test) down $SOLR_URL" ;;
  url) echo "$CKAN_URL" ;;
  token) cat "$DIR/api_token" ;;
  tracking)  # a cron job in production
    # CKAN resumes 2 days before its last summary; with none yet it walks every day since 2011 (about
    # 5,800 days of queries, 30 s here): then start from the day the tracking tables were created.
    since=""
    if [ -z "$(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -d "$CKAN_DB" -tAc \
        "SELECT 1 FROM tracking_summary LIMIT 1")" ] && [ -f "$DIR/.tracking-tables" ]; then
      since=$(date -u -r "$DIR/.tracking-tables" +%F)
    fi
    ckan tracking update $since >/dev/null && echo "[ckan] page views and downloads aggregated" ;;
  *) echo "usage: $0 start|stop|status|url|token|tracking" >&2; exit 2 ;;
esac
