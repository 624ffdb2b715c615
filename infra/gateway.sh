#!/usr/bin/env bash
# The ministries' SQL gateway in the background (demo, tests), by PID file.
#   infra/gateway.sh start | stop | status | password <ministry> | psql <ministry> [psql args]
# Settings: LAKEHOUSE_GATEWAY_HOST=127.0.0.1 LAKEHOUSE_GATEWAY_PORT=6543 LAKEHOUSE_VAR=./var
#   LAKEHOUSE_GATEWAY_PASSWORDS_FILE=~/.config/lakehouse/gateway-passwords.json (made by make setup)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=${LAKEHOUSE_VAR:-$ROOT/var}
HOST=${LAKEHOUSE_GATEWAY_HOST:-127.0.0.1}
PORT=${LAKEHOUSE_GATEWAY_PORT:-6543}
PASSWORDS=${LAKEHOUSE_GATEWAY_PASSWORDS_FILE:-$HOME/.config/lakehouse/gateway-passwords.json}
DIR="$VAR/gateway"
PID="$DIR/gateway.pid"
# shellcheck source=lib/pids.sh
. "$ROOT/infra/lib/pids.sh"
log() { printf '[gateway] %s\n' "$*"; }
alive() { pid_alive "$PID"; }
listening() { (exec 3<>"/dev/tcp/$HOST/$PORT") 2>/dev/null; }

start() {
  mkdir -p "$DIR"
  if alive; then stop; fi  # a restart picks up new grants and new tables
  listening && { echo "[gateway] error: $HOST:$PORT is taken by another process; set LAKEHOUSE_GATEWAY_PORT" >&2; exit 1; }
  log "starting on $HOST:$PORT (log: $DIR/gateway.log)"
  start_bg "$PID" "$DIR/gateway.log" "$ROOT/bin/lakehouse" gateway serve
  for _ in $(seq 1 120); do
    listening && { tail -1 "$DIR/gateway.log"; return 0; }
    alive || break
    sleep 0.25
  done
  tail -20 "$DIR/gateway.log" >&2
  echo "[gateway] error: did not start; log: $DIR/gateway.log" >&2
  exit 1
}

stop() { stop_pid gateway "$PID"; }

password() {
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$PASSWORDS" "$1"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) if alive && listening; then echo "SQL gateway up   $HOST:$PORT"; else echo "SQL gateway down $HOST:$PORT"; fi ;;
  password) password "$2" ;;
  psql) shift; who=$1; shift
        PGPASSWORD=$(password "$who") exec psql "host=$HOST port=$PORT user=$who dbname=lakehouse" "$@" ;;
  *) echo "usage: $0 start|stop|status|password <ministry>|psql <ministry> [args]" >&2; exit 2 ;;
esac
