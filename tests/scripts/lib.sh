#!/usr/bin/env bash
# tests/scripts/lib.sh - the few helpers the shell tests share: a scratch directory removed
# on exit, and assertions that print what was expected and what came out.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
PASSED=0

fail() { printf 'FAIL %s: %s\n' "${CASE:-?}" "$*" >&2; exit 1; }
ok() { PASSED=$((PASSED + 1)); printf 'ok   %s\n' "$CASE"; }
# assert_eq EXPECTED ACTUAL
assert_eq() { [ "$1" = "$2" ] || fail "expected '$1', got '$2'"; }
# assert_contains HAYSTACK NEEDLE
assert_contains() { case "$1" in *"$2"*) ;; *) fail "expected output containing '$2', got: $1" ;; esac; }
assert_not_contains() { case "$1" in *"$2"*) fail "output must not contain '$2', got: $1" ;; *) ;; esac; }
done_tests() { printf '%s: %d passed\n' "$(basename "$0")" "$PASSED"; }
