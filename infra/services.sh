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

start() {
  if ! pg_up; then
    echo "[services] starting PostgreSQL"
    if command -v pg_ctlcluster >/dev/null; then
      for v in $(ls /etc/postgresql); do pg_ctlcluster --skip-systemctl-redirect "$v" main start || true; done
    fi
    wait_for PostgreSQL pg_up
  fi
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
