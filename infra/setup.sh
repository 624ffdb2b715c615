#!/usr/bin/env bash
# One-command setup for a fresh Debian 12 machine of this kind; idempotent and quick when done.
#   1. Debian packages that are missing (Java 17, JDBC drivers, PostgreSQL, MariaDB, Redis, libpq)
#   2. the local services (started when down)
#   3. three virtualenvs from lock files: airflow, data, ckan
# Virtualenvs live outside the clone, keyed by a hash of their lock file, so a fresh CI clone with
# unchanged locks reuses them in seconds; .venv-<name> in the clone links to the right one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${LAKEHOUSE_CACHE:-$HOME/.cache/lakehouse}
mkdir -p "$CACHE/venvs"
log() { printf '[setup] %s\n' "$*"; }

# --- 1. Debian packages --------------------------------------------------------------------------
install_missing() {
  local need=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg"); done
  ((${#need[@]})) || return 0
  log "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
}
install_missing openjdk-17-jre-headless libpostgresql-jdbc-java libmariadb-java postgresql \
  mariadb-server redis-server libpq-dev gcc python3-dev chromium chromium-driver
# wal2json: the logical-decoding plugin change data capture reads deletes with (spark_jobs/cdc.py),
# built for the installed PostgreSQL major version
install_missing "postgresql-$(ls /usr/lib/postgresql | sort -n | tail -1)-wal2json"

# --- 2. services ----------------------------------------------------------------------------------
bash infra/services.sh start

# --- 3. virtualenvs -------------------------------------------------------------------------------
UV="$CACHE/uv/bin/uv"
if [ ! -x "$UV" ]; then
  log "bootstrapping uv"
  python3 -m venv "$CACHE/uv"
  "$CACHE/uv/bin/pip" install -q "uv==0.13.9"
fi
PY=${LAKEHOUSE_PYTHON:-$(command -v python3.11 || command -v python3)}
pyver=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')

for name in airflow data ckan; do
  lock=requirements/$name.lock
  key=$( (cat "$lock"; echo "$pyver") | sha256sum | cut -c1-12)
  venv="$CACHE/venvs/$name-$key"
  if [ ! -f "$venv/.complete" ]; then
    log "building $name virtualenv ($venv)"
    rm -rf "$venv"
    "$UV" venv -q --python "$PY" "$venv"
    # Bytecode matters here: PYTHONDONTWRITEBYTECODE=1 makes uncompiled imports ~3x slower.
    "$UV" pip sync -q --python "$venv/bin/python" --compile-bytecode "$lock"
    touch "$venv/.complete"
  fi
  ln -sfn "$venv" ".venv-$name"
done

# The portal's CKAN additions (ckanext-lakehouse: DCAT-AP 3 profile, dataset schema): a regular (not
# editable) install, so clones sharing the cached virtualenv never point at each other's folders;
# reinstalled when they change. `lakehouse-ckan` was its name before it became a ckanext package.
ext=ckanext-lakehouse
ext_key=$(find "$ext" -type f \( -name '*.py' -o -name '*.yaml' -o -name '*.toml' \) -not -path '*/build/*' \
  | sort | xargs cat | sha256sum | cut -c1-12)
if [ ! -f ".venv-ckan/.lakehouse-ckan-$ext_key" ]; then
  log "installing the portal's CKAN extension ($ext)"
  "$UV" pip uninstall -q --python .venv-ckan/bin/python lakehouse-ckan 2>/dev/null || true
  "$UV" pip install -q --python .venv-ckan/bin/python --no-deps --reinstall "./$ext"
  rm -rf "$ext/build" "$ext"/*.egg-info
  rm -f .venv-ckan/.lakehouse-ckan-*
  touch ".venv-ckan/.lakehouse-ckan-$ext_key"
fi

# --- 4. runtime folders, the local pseudonymisation key, Airflow metadata DB -----------------------
mkdir -p var
# A random HMAC key for this machine, outside the repo and the lake (production sets
# LAKEHOUSE_PSEUDONYM_KEY from its secret store instead). Never overwritten: pseudonyms depend on it.
KEY_FILE=${LAKEHOUSE_PSEUDONYM_KEY_FILE:-$HOME/.config/lakehouse/pseudonym.key}
if [ -z "${LAKEHOUSE_PSEUDONYM_KEY:-}" ] && [ ! -s "$KEY_FILE" ]; then
  mkdir -p "$(dirname "$KEY_FILE")"
  (umask 077; python3 -c 'import secrets; print(secrets.token_hex(32))' >"$KEY_FILE")
  log "created a local pseudonymisation key in $KEY_FILE (keep it: pseudonyms depend on it)"
fi
# One password per ministry for the SQL gateway, outside the repo (production: a secret store). A ministry
# added to data_contracts/access/ministries.yaml gets one on the next setup; existing ones never change.
GATEWAY_PASSWORDS=${LAKEHOUSE_GATEWAY_PASSWORDS_FILE:-$HOME/.config/lakehouse/gateway-passwords.json}
mkdir -p "$(dirname "$GATEWAY_PASSWORDS")"
(umask 077; .venv-data/bin/python - "$GATEWAY_PASSWORDS" data_contracts/access/ministries.yaml <<'PY'
import json, pathlib, secrets, sys, yaml
path = pathlib.Path(sys.argv[1])
known = json.loads(path.read_text()) if path.exists() and path.stat().st_size else {}
wanted = yaml.safe_load(open(sys.argv[2]))["ministries"]
missing = [n for n in wanted if n not in known]
if missing:
    path.write_text(json.dumps({**known, **{n: secrets.token_urlsafe(12) for n in missing}}, indent=2) + "\n")
    print(f"[setup] SQL gateway passwords for {', '.join(missing)} in {path}")
PY
)
bash infra/airflow.sh init
log "ready: .venv-airflow .venv-data .venv-ckan; services up"
