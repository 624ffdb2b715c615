#!/usr/bin/env bash
# Local services the pipeline needs: PostgreSQL, MariaDB, Redis. `start` starts what is down and
# waits until it answers; `status` reports. Never kills anything by name.
set -euo pipefail
PG_HOST=${PG_HOST:-127.0.0.1} PG_PORT=${PG_PORT:-5432}
MARIADB_HOST=${MARIADB_HOST:-127.0.0.1} MARIADB_PORT=${MARIADB_PORT:-3306}
REDIS_PORT=${REDIS_PORT:-6379}

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
maria_up() { mariadb-admin -h "$MARIADB_HOST" -P "$MARIADB_PORT" -uroot --connect-timeout=2 ping >/dev/null 2>&1; }
redis_up() { redis-cli -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG; }

wait_for() {  # name, check function
  for _ in $(seq 1 60); do "$2" && return 0; sleep 0.5; done
  echo "[services] $1 did not come up; see its log under /var/log" >&2; return 1
}

# Change data capture (spark_jobs/cdc.py) reads deletes from the write-ahead log: wal_level logical,
# and a cap on the WAL a forgotten replication slot may hold. Local server only; restarts it once.
pg_logical_decoding() {
  [ "$PG_HOST" = 127.0.0.1 ] && command -v pg_ctlcluster >/dev/null || return 0
  local q=(psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -Atqc)
  # this server build lists the output plugins it allows; wal2json must be one
  local allowed
  allowed=$("${q[@]}" "SELECT setting FROM pg_settings WHERE name = 'output_plugin_libraries'")
  if [ -n "$allowed" ] && [[ "$allowed" != *wal2json* ]]; then
    # a list setting: one quoted item per library
    local items
    items=$(printf "'%s', " $(echo "$allowed" | tr -d '",' ))
    "${q[@]}" "ALTER SYSTEM SET output_plugin_libraries = ${items}'wal2json'"
    "${q[@]}" "SELECT pg_reload_conf()" >/dev/null
  fi
  [ "$("${q[@]}" 'SHOW wal_level')" = logical ] && return 0
  echo "[services] PostgreSQL: wal_level=logical (restart)"
  psql -h "$PG_HOST" -p "$PG_PORT" -U postgres -qc "ALTER SYSTEM SET wal_level = logical" \
    -c "ALTER SYSTEM SET max_slot_wal_keep_size = '2GB'" -c "ALTER SYSTEM SET max_replication_slots = 32"
  for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main restart; done
  wait_for PostgreSQL pg_up
}

start() {
  if ! pg_up; then
    echo "[services] starting PostgreSQL"
    if command -v pg_ctlcluster >/dev/null; then
      for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start || true; done
    fi
    wait_for PostgreSQL pg_up
  fi
  pg_logical_decoding
  if ! maria_up; then
    echo "[services] starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for MariaDB maria_up
  fi
  if ! redis_up; then
    echo "[services] starting Redis"
    mkdir -p /var/log/redis /var/lib/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port "$REDIS_PORT" --save "" \
      --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for Redis redis_up
  fi
}

status() {
  pg_up && echo "PostgreSQL  up   $PG_HOST:$PG_PORT" || echo "PostgreSQL  DOWN $PG_HOST:$PG_PORT"
  maria_up && echo "MariaDB     up   $MARIADB_HOST:$MARIADB_PORT" || echo "MariaDB     DOWN $MARIADB_HOST:$MARIADB_PORT"
  redis_up && echo "Redis       up   127.0.0.1:$REDIS_PORT" || echo "Redis       DOWN 127.0.0.1:$REDIS_PORT"
}

case "${1:-status}" in
  start) start ;;
  status) status ;;
  *) echo "usage: $0 start|status" >&2; exit 2 ;;
esac
