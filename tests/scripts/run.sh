#!/usr/bin/env bash
# tests/scripts/run.sh - runs every tests/scripts/*.test.sh (the deployment scripts' own tests:
# fast, no VMs, no network) and fails if any of them fails. Used by `make scripts-test`.
set -uo pipefail
cd "$(dirname "$0")"
failed=()
for t in *.test.sh; do
  bash "$t" || failed+=("$t")
done
[ ${#failed[@]} -eq 0 ] || { echo "scripts-test: failed: ${failed[*]}" >&2; exit 1; }
echo "scripts-test: all passed"
