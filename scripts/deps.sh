#!/usr/bin/env bash
# Installs what `make test` (and friends) need beyond Rust, only when it is missing.
# As root it uses apt-get (one `apt-get update` per run); otherwise it names the packages.
# Usage: scripts/deps.sh test|bench|deploy
set -euo pipefail
want=${1:-test}

# command -> Debian package that provides it
declare -A pkg_of=(
  [promtool]=prometheus
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [node]=nodejs
  [npm]=npm
)
case "$want" in
  test) cmds=(promtool chromium chromedriver node npm) ;;
  bench) cmds=(promtool chromium node npm prometheus-node-exporter) ;;
  *) echo "deps.sh: unknown set '$want' (test|bench)" >&2; exit 2 ;;
esac
pkg_of[prometheus-node-exporter]=prometheus-node-exporter

missing=()
for c in "${cmds[@]}"; do
  if [ "$c" = prometheus-node-exporter ]; then
    [ -x /usr/bin/prometheus-node-exporter ] || missing+=("${pkg_of[$c]}")
  elif ! command -v "$c" >/dev/null 2>&1; then
    missing+=("${pkg_of[$c]}")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # --no-install-recommends keeps the prometheus package from pulling in a running stack.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The prometheus and node-exporter packages start services; tests start their own.
  for svc in prometheus prometheus-node-exporter; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

# Browser tests drive Debian's Chromium through playwright-core (no browser download).
if [ -f tests/browser/package-lock.json ] && [ ! -d tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "deps: ok"
