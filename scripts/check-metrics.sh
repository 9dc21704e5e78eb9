#!/usr/bin/env bash
# `make promtool`: start the debug server and edges on 127.0.0.1, then check a live /metrics:
# the classic text must pass `promtool check metrics`, the OpenMetrics one must end in # EOF.
# Kills only the processes it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN_DIR:-target/debug}
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
fail() { echo "check-metrics: $*" >&2; [ -f "$work/server.log" ] && tail -20 "$work/server.log" >&2; exit 1; }

command -v promtool >/dev/null || fail "promtool not found (apt-get install prometheus, or make deps)"
[ -x "$bin/utizmon-server" ] && [ -x "$bin/utizmon-edge" ] || fail "build first: cargo build --workspace"

"$bin/utizmon-server" --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/server.out" 2>"$work/server.log" &
pids+=($!)
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n '1s/^listening on //p' "$work/server.out")
  [ -n "$addr" ] && break
  kill -0 "${pids[0]}" 2>/dev/null || fail "the server exited"
  sleep 0.1
done
[ -n "$addr" ] || fail "the server did not print its address"

"$bin/utizmon-edge" --master "ws://$addr/ws/edge" --interval 1s >/dev/null 2>"$work/edge.log" &
pids+=($!)
# Simulated edges with a hostile prefix: quotes, backslashes and markup must be escaped.
"$bin/utizmon-edge" --master "ws://$addr/ws/edge" --interval 1s --simulate 2 \
  --simulate-prefix 'evil"\<x>' >/dev/null 2>"$work/sim.log" &
pids+=($!)

want=3
for _ in $(seq 1 100); do
  online=$(curl -fsS "http://$addr/api/v1/hosts" | grep -o '"status":"online"' | wc -l || true)
  [ "$online" -ge "$want" ] && break
  sleep 0.1
done
[ "${online:-0}" -ge "$want" ] || fail "only ${online:-0} of $want hosts came online"
# Let every edge send a second sample, so rates and counters are populated.
sleep 1.2

curl -fsS "http://$addr/metrics" >"$work/metrics.txt"
promtool check metrics <"$work/metrics.txt" || fail "promtool check metrics failed"
grep -q '^utizmon_edge_connected{host="evil\\"\\\\<x>' "$work/metrics.txt" \
  || fail "hostile host name missing or not escaped"

curl -fsS -H 'Accept: application/openmetrics-text; version=1.0.0' "http://$addr/metrics" >"$work/metrics.om"
[ "$(tail -n 1 "$work/metrics.om")" = "# EOF" ] || fail "OpenMetrics output does not end with # EOF"

echo "check-metrics: promtool passed on $(grep -vc '^#' "$work/metrics.txt") series from $online hosts; OpenMetrics ends with # EOF"
