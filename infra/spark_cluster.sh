#!/usr/bin/env bash
# A Spark standalone cluster on this machine: one master and two workers, started with pyspark's own
# daemon script (sbin/spark-daemon.sh), for the scale-out path's test and benchmark. Ingestion runs on
# it unchanged with SPARK_MASTER=spark://127.0.0.1:$SPARK_CLUSTER_PORT (the lake must be reachable by
# every worker: a local folder here, object storage on a real cluster).
#   infra/spark_cluster.sh start | stop | status | url
# Settings: SPARK_CLUSTER_PORT=7177 SPARK_CLUSTER_UI_PORT=8180 SPARK_WORKER_CORES=1
#   SPARK_WORKER_MEMORY=1g LAKEHOUSE_VAR=./var (pid files and logs under $LAKEHOUSE_VAR/spark-cluster)
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
VAR=${LAKEHOUSE_VAR:-$ROOT/var}
PORT=${SPARK_CLUSTER_PORT:-7177}
UI=${SPARK_CLUSTER_UI_PORT:-8180}
export SPARK_HOME=${SPARK_HOME:-$("$ROOT/.venv-data/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}
export SPARK_PID_DIR="$VAR/spark-cluster" SPARK_LOG_DIR="$VAR/spark-cluster/logs"
export SPARK_IDENT_STRING="lakehouse-$PORT"  # pid files per cluster, so two clusters never collide
export SPARK_WORKER_CORES=${SPARK_WORKER_CORES:-1} SPARK_WORKER_MEMORY=${SPARK_WORKER_MEMORY:-1g}
# Executors run the data virtualenv's Python, like the driver.
export PYSPARK_PYTHON="$ROOT/.venv-data/bin/python" SPARK_LOCAL_IP=127.0.0.1 TZ=UTC
DAEMON="$SPARK_HOME/sbin/spark-daemon.sh"
MASTER=org.apache.spark.deploy.master.Master
WORKER=org.apache.spark.deploy.worker.Worker
URL="spark://127.0.0.1:$PORT"
log() { printf '[spark-cluster] %s\n' "$*"; }
workers_alive() { curl -sf "http://127.0.0.1:$UI/json/" | "$ROOT/.venv-data/bin/python" -c \
  'import json, sys; print(sum(w["state"] == "ALIVE" for w in json.load(sys.stdin)["workers"]))' 2>/dev/null || echo 0; }

start() {
  mkdir -p "$SPARK_LOG_DIR"
  if [ "$(workers_alive)" = 2 ]; then log "already running: $URL"; return 0; fi
  bash "$DAEMON" start "$MASTER" 1 --host 127.0.0.1 --port "$PORT" --webui-port "$UI" >/dev/null
  for i in 1 2; do
    bash "$DAEMON" start "$WORKER" "$i" --host 127.0.0.1 --webui-port $((UI + i)) "$URL" >/dev/null
  done
  for _ in $(seq 1 120); do
    [ "$(workers_alive)" = 2 ] && { log "ready: $URL (2 workers; UI http://127.0.0.1:$UI)"; return 0; }
    sleep 0.5
  done
  tail -20 "$SPARK_LOG_DIR"/*.out >&2 || true
  log "error: the master and two workers did not come up; logs in $SPARK_LOG_DIR" >&2
  exit 1
}

stop() {
  for i in 2 1; do bash "$DAEMON" stop "$WORKER" "$i" >/dev/null 2>&1 || true; done
  bash "$DAEMON" stop "$MASTER" 1 >/dev/null 2>&1 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) echo "Spark cluster $URL: $(workers_alive) worker(s) alive" ;;
  url) echo "$URL" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
