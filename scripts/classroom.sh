#!/usr/bin/env bash
# Serve the lab to a class: N Streamlit workers behind HAProxy with cookie-sticky sessions.
#
#   bash scripts/classroom.sh [--port 8501] [--workers N] [--host 0.0.0.0]
#
# Defaults: port 8501 on every interface, one worker per core (at most 8). Workers listen on loopback ports
# above --port; HAProxy (deploy/haproxy.cfg, the file compose.yaml uses too) health-checks them every second.
# A worker that dies is started again on the same port. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

port=8501 workers=$(nproc) host=0.0.0.0
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="$2"; shift 2 ;;
    --workers) workers="$2"; shift 2 ;;
    --host) host="$2"; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "classroom.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$workers" in ''|*[!0-9]*) echo "classroom.sh: --workers takes a number from 1 to 8" >&2; exit 2 ;; esac
[ "$workers" -ge 1 ] && [ "$workers" -le 8 ] || { echo "classroom.sh: --workers takes a number from 1 to 8" >&2; exit 2; }

scripts/setup.sh requirements.txt
if ! command -v haproxy >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null
  else
    echo "classroom.sh: haproxy is not installed (as root: apt-get install haproxy)" >&2; exit 1
  fi
fi

pids=()
stop_all() {  # each supervisor and HAProxy leads its own process group: end the groups, then wait for them
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for _ in $(seq 50); do
    alive=0
    for pid in "${pids[@]}"; do pgrep -g "$pid" >/dev/null && alive=1; done
    [ "$alive" = 0 ] && return
    sleep 0.2
  done
  for pid in "${pids[@]}"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
}
trap stop_all INT TERM EXIT

# One cookie secret for all workers: a session's XSRF cookie stays valid if HAProxy moves it to another worker.
export STREAMLIT_SERVER_COOKIE_SECRET="${STREAMLIT_SERVER_COOKIE_SECRET:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export STREAMLIT_SERVER_HEADLESS=true STREAMLIT_BROWSER_GATHER_USAGE_STATS=false
export MLP_LAB_BIND="$host:$port"
# each worker trains in one low-priority child process (lab.train_service) with cores / workers BLAS threads
export MLP_LAB_WORKERS="$workers"

for i in $(seq 1 8); do
  if [ "$i" -le "$workers" ]; then
    wport=$((port + i))
    export "MLP_LAB_W$i=127.0.0.1:$wport" "MLP_LAB_W${i}_STATE=enabled"
    # the supervisor: start the worker again whenever it exits (a crash, or killed for memory)
    setsid bash -c 'restarts=0; while true; do
        MLP_LAB_WORKER="w'"$i"'" MLP_LAB_WORKER_RESTARTS=$restarts .venv/bin/streamlit run app.py --server.address 127.0.0.1 --server.port '"$wport"' \
          --server.fileWatcherType none >>"${MLP_LAB_LOG_DIR:-/tmp}/mlp-lab-w'"$i"'.log" 2>&1
        echo "worker w'"$i"' exited ($?); starting it again" >&2; restarts=$((restarts + 1)); sleep 1
      done' &
    pids+=($!)
  else
    export "MLP_LAB_W$i=127.0.0.1:9" "MLP_LAB_W${i}_STATE=disabled"
  fi
done

setsid haproxy -db -f deploy/haproxy.cfg &
pids+=($!)
echo "The lab is served at http://$host:$port/ by $workers workers (logs: ${MLP_LAB_LOG_DIR:-/tmp}/mlp-lab-w*.log). Ctrl-C stops it."
wait -n "${pids[@]}"
echo "classroom.sh: a supervisor or HAProxy ended; stopping everything" >&2
