#!/usr/bin/env bash
# `make bench`: measures the release binaries on 127.0.0.1 and prints one table, also written
# to docs/benchmarks.md. Numbers are reported, not asserted (shared, noisy machines).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh bench
cargo build --release --locked -p utizmon-bench
target/release/utizmon-bench "$@"
# The dashboard under a simulated fleet, measured in headless Chromium.
if [ -f tests/browser/bench.mjs ]; then
  { echo; echo "## Dashboard in headless Chromium"; echo; } >> docs/benchmarks.md
  UTIZMON_BIN_DIR=target/release node --experimental-websocket tests/browser/bench.mjs \
    | tee -a docs/benchmarks.md
fi
