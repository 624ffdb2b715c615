# Background processes by PID file: the one implementation the infra scripts source. Nothing is ever
# killed by name, so two clones (or the demo and the tests) never stop each other's servers.
#   start_bg PIDFILE LOG CMD...    start CMD in its own process group (setsid), record its PID
#   pid_alive PIDFILE              true while the recorded process runs
#   stop_pid NAME PIDFILE          TERM its process group, wait up to 15 s, then KILL; remove the file

pid_alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start_bg() {
  local pidfile=$1 logfile=$2
  shift 2
  mkdir -p "$(dirname "$pidfile")"
  setsid nohup "$@" >"$logfile" 2>&1 &
  echo $! >"$pidfile"
}

stop_pid() {
  local name=$1 pidfile=$2 pid
  if pid_alive "$pidfile"; then
    pid=$(cat "$pidfile")
    printf '[%s] stopping (pid %s)\n' "$name" "$pid"
    # its process group when it leads one (start_bg), else the process alone
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}
