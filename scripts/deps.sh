#!/usr/bin/env bash
# Installs what `make test` (and friends) need beyond Rust, only when it is missing.
# As root it uses apt-get (one `apt-get update` per run); otherwise it names the packages.
# Usage: scripts/deps.sh test|bench|deploy|vagrant
set -euo pipefail
want=${1:-test}

# command -> Debian package that provides it
declare -A pkg_of=(
  [promtool]=prometheus
  [prometheus]=prometheus
  [victoria-metrics]=victoria-metrics
  [chromium]=chromium
  [chromedriver]=chromium-driver
  [firefox-esr]=firefox-esr
  [node]=nodejs
  [npm]=npm
  [vagrant]=vagrant
  [vagrant-libvirt]=vagrant-libvirt
  [ansible-playbook]=ansible
  [ansible-lint]=ansible-lint
  [debootstrap]=debootstrap
  [qemu-system-x86_64]=qemu-system-x86
  [ssh]=openssh-client
  [socat]=socat
  [lintian]=lintian
  [libvirtd]=libvirt-daemon-system
  [virsh]=libvirt-clients
  [dnsmasq]=dnsmasq-base
  [iptables]=iptables
  [jq]=jq
  [openssl]=openssl
  [curl]=curl
)
case "$want" in
  # vagrant + vagrant-libvirt + ansible-lint: `make lint-deploy` (vagrant validate, ansible-lint)
  # firefox-esr: the dashboard's Firefox smoke test (tests/browser/firefox.test.mjs)
  # prometheus + victoria-metrics: remote-write receivers of server/tests/remote_write.rs
  # prometheus-alertmanager: server/tests/alerts.rs sends alerts to a real Alertmanager
  # prometheus-node-exporter: server/tests/node_metrics.rs compares /node-metrics with it
  # jq: scripts/check-prometheus.sh reads the Grafana dashboard's expressions
  test) cmds=(promtool prometheus victoria-metrics prometheus-alertmanager chromium chromedriver firefox-esr node npm vagrant vagrant-libvirt ansible-playbook ansible-lint prometheus-node-exporter jq) ;;
  bench) cmds=(promtool chromium node npm prometheus-node-exporter) ;;
  # `make test-deploy`: debootstrap builds the VM image, QEMU runs it, Ansible deploys it
  # lintian: `make test-dist` checks the .deb packages
  deploy) cmds=(debootstrap qemu-system-x86_64 ansible-playbook ssh socat lintian openssl curl) ;;
  # `make test-vagrant`: Vagrant + vagrant-libvirt against a libvirt daemon (its services are
  # not started by the install: the test starts its own in a namespace), QEMU for the VMs,
  # debootstrap for the box, Chromium + Node for the dashboard check
  vagrant) cmds=(vagrant vagrant-libvirt libvirtd virsh dnsmasq iptables qemu-system-x86_64 debootstrap ansible-playbook ssh socat openssl curl chromium node npm) ;;
  *) echo "deps.sh: unknown set '$want' (test|bench|deploy|vagrant)" >&2; exit 2 ;;
esac
pkg_of[prometheus-node-exporter]=prometheus-node-exporter
pkg_of[prometheus-alertmanager]=prometheus-alertmanager

missing=()
for c in "${cmds[@]}"; do
  if [ "$c" = prometheus-node-exporter ] || [ "$c" = prometheus-alertmanager ]; then
    [ -x "/usr/bin/$c" ] || missing+=("${pkg_of[$c]}")
  elif [ "$c" = vagrant-libvirt ]; then
    dpkg-query -W -f='${Status}' vagrant-libvirt 2>/dev/null | grep -q 'ok installed' || missing+=("${pkg_of[$c]}")
  elif [ "$c" = dnsmasq ] || [ "$c" = libvirtd ] || [ "$c" = iptables ]; then
    [ -x "/usr/sbin/$c" ] || missing+=("${pkg_of[$c]}")
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
  apt_flags=()
  if [[ " ${missing[*]} " == *" qemu-system-x86 "* ]]; then
    # Debian's qemu-system-x86 Breaks the newer backports qemu-utils some images ship; ask for
    # the release's own qemu-utils in the SAME command so qemu-img stays installed.
    missing+=("qemu-utils/$(. /etc/os-release && echo "$VERSION_CODENAME")")
    apt_flags+=(--allow-downgrades)
  fi
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # One index refresh per hour is plenty, however many make targets ask for packages.
  stamp=target/.apt-updated
  if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    mkdir -p target && touch "$stamp"
  fi
  # --no-install-recommends keeps the prometheus package from pulling in a running stack
  # (and vagrant-libvirt from pulling in a libvirt daemon).
  # Several make targets (or sessions) may install at once: wait for apt's lock, do not fail.
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${apt_flags[@]}" "${missing[@]}" >/dev/null
  # The prometheus and node-exporter packages start services; tests start their own.
  for svc in prometheus prometheus-node-exporter victoria-metrics prometheus-alertmanager libvirtd virtlogd virtlockd; do
    systemctl disable --now "$svc" >/dev/null 2>&1 || true
  done
fi

# Browser tests drive Debian's Chromium through playwright-core (no browser download).
if [ -f tests/browser/package-lock.json ] && [ ! -d tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "deps: ok"
