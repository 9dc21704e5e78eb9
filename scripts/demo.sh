#!/usr/bin/env bash
# `make demo`: the release server and one local edge in the foreground. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
listen=${UTIZMON_LISTEN:-127.0.0.1:5000}
# History lives under target/ (ignored by git) and survives demo restarts.
data=${UTIZMON_DATA_DIR:-target/demo/data}
bin=target/release

"$bin/utizmon-server" --listen "$listen" --data-dir "$data" &
server=$!
edge=
stop() {
  trap - INT TERM EXIT
  [ -n "$edge" ] && kill -TERM "$edge" 2>/dev/null || true
  kill -TERM "$server" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap stop INT TERM EXIT

# Wait (bounded) until the server answers before starting the edge.
for _ in $(seq 1 50); do
  curl -fsS "http://$listen/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { echo "demo: the server exited (is $listen already in use?)" >&2; exit 1; }
  sleep 0.1
done
"$bin/utizmon-edge" --master "ws://$listen/ws/edge" &
edge=$!

cat <<MSG

  utizmon demo is running
    dashboard: http://$listen/
    metrics:   http://$listen/metrics
    hosts API: http://$listen/api/v1/hosts
    history:   $data
  Press Ctrl-C to stop.

MSG
wait -n "$server" "$edge" || true
