#!/usr/bin/env bash
# `make prometheus-config`: checks what deploy/prometheus/ ships for the Prometheus world.
# - prometheus.yml passes `promtool check config`;
# - every PromQL expression of grafana-dashboard.json (panel targets and template queries
#   that are PromQL) parses: they are written into a generated rules file, with Grafana's
#   variables replaced by valid values, and checked with `promtool check rules`;
# - utizmon-rules.yml (the built-in alert rules for Prometheus) passes `promtool check rules`
#   and its unit tests, `promtool test rules utizmon-rules.test.yml`.
set -euo pipefail
cd "$(dirname "$0")/.."
fail() { echo "check-prometheus: $*" >&2; exit 1; }
command -v promtool >/dev/null || fail "promtool not found (apt-get install prometheus, or make deps)"
command -v jq >/dev/null || fail "jq not found (apt-get install jq)"
dir=deploy/prometheus
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

promtool check config "$dir/prometheus.yml" >"$work/config.log" 2>&1 \
  || { cat "$work/config.log" >&2; fail "promtool check config $dir/prometheus.yml failed"; }

# One recording rule per expression; Grafana's variables become what Grafana substitutes.
jq -r '[.panels[].targets[]?.expr] | .[]' "$dir/grafana-dashboard.json" >"$work/exprs.txt"
n=$(wc -l <"$work/exprs.txt")
[ "$n" -gt 0 ] || fail "no expressions found in $dir/grafana-dashboard.json"
{
  echo "groups:"
  echo "  - name: grafana-dashboard"
  echo "    rules:"
  i=0
  while IFS= read -r expr; do
    i=$((i + 1))
    expr=${expr//\$__rate_interval/1m}
    expr=${expr//\$\{host\}/.*}
    expr=${expr//\$host/.*}
    printf '      - record: dashboard:expr_%d\n        expr: %s\n' "$i" "$(jq -Rn --arg e "$expr" '$e')"
  done <"$work/exprs.txt"
} >"$work/rules.yml"
promtool check rules "$work/rules.yml" >"$work/rules.log" 2>&1 \
  || { cat "$work/rules.log" >&2; fail "a dashboard expression in $dir/grafana-dashboard.json does not parse"; }

promtool check rules "$dir/utizmon-rules.yml" >"$work/alert-rules.log" 2>&1 \
  || { cat "$work/alert-rules.log" >&2; fail "promtool check rules $dir/utizmon-rules.yml failed"; }
# promtool resolves rule_files relative to the test file.
promtool test rules "$dir/utizmon-rules.test.yml" >"$work/alert-tests.log" 2>&1 \
  || { cat "$work/alert-tests.log" >&2; fail "promtool test rules $dir/utizmon-rules.test.yml failed"; }
echo "check-prometheus: $dir/prometheus.yml valid; $n dashboard expressions parse; utizmon-rules.yml valid and its tests pass"
