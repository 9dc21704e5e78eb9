#!/usr/bin/env bash
# deploy/vagrant-lab.sh - the Vagrant flow test behind `make test-vagrant`: the commands a
# user types (make create-all, run, status, logs, destroy-all), unchanged, with Vagrant and
# vagrant-libvirt against a libvirt daemon this script starts, for both provisioner paths.
#
# Isolation: a network namespace (utizmon-vagrant) holds every bridge, VM, dnsmasq and
# port forward; a private mount namespace (a holder process) gives libvirt its own
# /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/log/libvirt and /var/cache/libvirt,
# all under .vm-lab/vagrant/, so the host's libvirt (if any) is never touched. Every
# command of the test runs inside both namespaces (nsenter); nothing listens in the root
# namespace. The VMs have no route to the internet.
#
# The box is packaged here from deploy/lab.sh's debootstrap image (no box download):
# Ansible (ansible-core) and rsync are baked in for the ansible_local path, DHCP on the
# management NIC, Vagrant's public insecure key for the first login (Vagrant replaces it),
# and the kernel booted directly by libvirt (the box's Vagrantfile sets kernel/initrd).
# Where KVM cannot boot a stock kernel the Vagrantfile picks libvirt's `qemu` domain (TCG).
#
# Usage (as root): deploy/vagrant-lab.sh test | box | up | flow ansible|ansible_local | down
# Environment: UTIZMON_LAB_DIR (default .vm-lab/), UTIZMON_VAGRANT_NS (namespace name),
# UTIZMON_VAGRANT_FLOWS (default "ansible ansible_local"), UTIZMON_VAGRANT_RERUN_FLOWS (the
# flows that run `make run` a second time and require changed=0; default: every flow).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/netns.sh
. "$ROOT/scripts/lib/netns.sh"
# shellcheck source=scripts/lib/deployed.sh
. "$ROOT/scripts/lib/deployed.sh"
LAB_DIR=${UTIZMON_LAB_DIR:-$ROOT/.vm-lab}
IMG=$LAB_DIR/image
VD=$LAB_DIR/vagrant
RUN=$VD/run
NS=${UTIZMON_VAGRANT_NS:-utizmon-vagrant}
BOX_NAME=utizmon/bookworm-lab
EDGES=(utizmon-edge-1 utizmon-edge-2)
MASTER_IP=192.168.56.10
# for scripts/lib/deployed.sh: the ansible flow's controller is this checkout; the host
# reaches the dashboard through Vagrant's forwarded port (127.0.0.1:5000 in the namespace)
SECRETS=$ROOT/.secrets
HOST_URL=https://127.0.0.1:5000
BOOT_TIMEOUT=900
# the libvirt management network's host side (vagrant-libvirt's default 192.168.121.0/24)
MGMT_HOST_IP=192.168.121.1
HTTP_PORT=8089
UTIZMON_VAGRANT_FLOWS=${UTIZMON_VAGRANT_FLOWS:-ansible ansible_local}

log() { printf '[vagrant-lab %s] %s\n' "$(date -u +%T)" "$*"; }
die() { printf '[vagrant-lab %s] ERROR: %s\n' "$(date -u +%T)" "$*" >&2; exit 1; }
now() { date +%s; }
timing() { mkdir -p "$RUN"; printf '%-40s %5d s\n' "$1" "$2" | tee -a "$RUN/timings.txt"; }
need_root() { [ "$(id -u)" -eq 0 ] || die "needs root (namespaces, libvirtd); run it with sudo"; }
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NS"; }
holder_pid() { local p; p=$(cat "$RUN/holder.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"; }
# runs a command inside the test's network and mount namespaces, in the checkout, with the
# environment a user of the libvirt provider would have
nsx() {
  local h
  h=$(holder_pid) || die "the namespaces are not up: run 'deploy/vagrant-lab.sh up' first"
  nsenter -t "$h" -m -n -- env -C "$ROOT" \
    VAGRANT_HOME="$VD/home" VAGRANT_DEFAULT_PROVIDER=libvirt VAGRANT_CHECKPOINT_DISABLE=1 \
    UTIZMON_BOX="$BOX_NAME" "$@"
}

host_curl() { nsx curl "$@"; }
# ssh with the configuration `vagrant ssh-config` printed (vm_ssh_config): one plain ssh per
# command instead of a Vagrant start-up each. A session whose VM stops answering ends after
# 15 s of silence (ServerAlive*); VM_SSH_LIMIT (seconds) bounds the whole command, also a
# login that hangs before any session (scripts/lib/deployed.sh, vm_probe).
vm_ssh() {
  local vm=$1 limit=()
  shift
  [ -z "${VM_SSH_LIMIT:-}" ] || limit=(timeout -k 5 "$VM_SSH_LIMIT")
  nsx "${limit[@]}" ssh -F "$RUN/ssh-config" -o LogLevel=ERROR -o ConnectTimeout=5 -o BatchMode=yes \
    -o ServerAliveInterval=5 -o ServerAliveCountMax=3 "$vm" "$@"
}
vm_ssh_config() { nsx vagrant ssh-config >"$RUN/ssh-config" || die "vagrant ssh-config failed"; }

# ---------------------------------------------------------------------------- box
insecure_key() {
  local k
  k=$(find /usr/share /usr/lib /opt -path '*vagrant*/keys/vagrant.pub' 2>/dev/null | head -1)
  [ -n "$k" ] || die "Vagrant's public insecure key (keys/vagrant.pub) was not found in the vagrant installation"
  echo "$k"
}

box() {
  need_root
  local t0 recipe r
  t0=$(now)
  "$ROOT/deploy/lab.sh" image
  recipe=$( (declare -f box; cat "$IMG/image.stamp") | sha256sum | cut -c1-16)
  mkdir -p "$VD"
  if [ -f "$VD/box/utizmon-lab.box" ] && [ "$(cat "$VD/box.stamp" 2>/dev/null)" = "$recipe" ] &&
    VAGRANT_HOME="$VD/home" vagrant box list 2>/dev/null | grep -q "^$BOX_NAME "; then
    log "box: cached $BOX_NAME ($recipe)"
    return
  fi
  r=$VD/boxroot
  rm -rf "$r" "$VD/box" "$VD/box.stamp"
  mkdir -p "$VD/box"
  cp -a "$IMG/rootfs" "$r"
  # Ansible and rsync for the ansible_local path (the VMs have no internet)
  cp /etc/resolv.conf "$r/etc/resolv.conf"
  chroot "$r" apt-get -qq update >"$VD/box-apt.log" 2>&1 || { tail "$VD/box-apt.log" >&2; die "apt-get update in the box failed"; }
  DEBIAN_FRONTEND=noninteractive chroot "$r" apt-get -qq install -y --no-install-recommends ansible-core rsync \
    >>"$VD/box-apt.log" 2>&1 || { tail "$VD/box-apt.log" >&2; die "installing ansible-core in the box failed"; }
  chroot "$r" apt-get clean
  rm -rf "$r"/var/lib/apt/lists/*
  : >"$r/etc/resolv.conf"
  # a Vagrant box: DHCP on whatever NIC comes first, hostnames set by Vagrant
  rm -f "$r"/etc/systemd/network/10-lab-*.network
  printf '[Match]\nName=en* eth*\n[Network]\nDHCP=ipv4\n' >"$r/etc/systemd/network/99-vagrant-dhcp.network"
  printf '127.0.0.1 localhost\n' >"$r/etc/hosts"
  # under emulation on a busy host, units like systemd-networkd can need more than the
  # default 90 s to start; a timeout there would leave the VM without an address
  mkdir -p "$r/etc/systemd/system.conf.d"
  printf '[Manager]\nDefaultTimeoutStartSec=600s\n' >"$r/etc/systemd/system.conf.d/lab-slow-boot.conf"
  install -m 600 "$(insecure_key)" "$r/home/vagrant/.ssh/authorized_keys"
  chroot "$r" chown -R vagrant:vagrant /home/vagrant/.ssh
  truncate -s 8G "$VD/box/box.raw"
  mkfs.ext4 -q -F -L utizroot -d "$r" "$VD/box/box.raw"
  qemu-img convert -f raw -O qcow2 "$VD/box/box.raw" "$VD/box/box.img"
  rm -rf "$VD/box/box.raw" "$r"
  cp "$IMG/vmlinuz" "$IMG/initrd.img" "$VD/box/"
  printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": 8}\n' >"$VD/box/metadata.json"
  cat >"$VD/box/Vagrantfile" <<'VF'
# utizmon lab box: a debootstrap image without a boot loader; libvirt boots its kernel.
Vagrant.configure("2") do |config|
  config.vm.provider :libvirt do |lv|
    lv.kernel = File.join(__dir__, "vmlinuz")
    lv.initrd = File.join(__dir__, "initrd.img")
    lv.cmd_line = "root=/dev/vda rw console=ttyS0 quiet"
    lv.disk_bus = "virtio"
    lv.graphics_type = "none"
    lv.video_type = "none"
  end
end
VF
  (cd "$VD/box" && tar -cf utizmon-lab.box metadata.json Vagrantfile box.img vmlinuz initrd.img)
  rm -f "$VD/box/box.img"
  VAGRANT_HOME="$VD/home" VAGRANT_CHECKPOINT_DISABLE=1 vagrant box add --force --name "$BOX_NAME" "$VD/box/utizmon-lab.box" >"$VD/box-add.log" 2>&1 ||
    { cat "$VD/box-add.log" >&2; die "vagrant box add failed"; }
  echo "$recipe" >"$VD/box.stamp"
  log "box: $BOX_NAME packaged and added ($(du -h "$VD/box/utizmon-lab.box" | cut -f1))"
  timing "box (package + add)" $(($(now) - t0))
}

# ---------------------------------------------------------------------------- libvirt
# A private copy of /etc/libvirt: QEMU runs as root without extra namespaces or cgroups (this
# machine is a container), logs to files, and no default network or pool autostarts.
libvirt_config() {
  local c=$VD/libvirt
  rm -rf "$c"
  mkdir -p "$c/etc" "$c/run" "$c/lib/images" "$c/log" "$c/cache"
  cp -a /etc/libvirt/. "$c/etc/"
  rm -f "$c"/etc/qemu/networks/autostart/* "$c"/etc/qemu/networks/*.xml "$c"/etc/storage/autostart/* "$c"/etc/storage/*.xml
  rm -f "$c"/etc/qemu/*.xml
  cat >>"$c/etc/qemu.conf" <<'CONF'
# deploy/vagrant-lab.sh
user = "+0"
group = "+0"
dynamic_ownership = 0
remember_owner = 0
security_driver = "none"
namespaces = [ ]
cgroup_controllers = [ ]
stdio_handler = "file"
CONF
}

up() {
  need_root
  ns_exists && die "namespace $NS already exists: run 'deploy/vagrant-lab.sh down' first"
  local t0 c=$VD/libvirt i
  t0=$(now)
  mkdir -p "$RUN"
  libvirt_config
  ip netns add "$NS"
  ip netns exec "$NS" ip link set lo up
  # the holder keeps the private mount namespace (inside the network namespace) alive
  ip netns exec "$NS" unshare --mount --propagation private sleep infinity </dev/null >/dev/null 2>&1 &
  echo $! >"$RUN/holder.pid"
  for i in $(seq 1 50); do
    [ "$(readlink "/proc/$(cat "$RUN/holder.pid")/ns/mnt" 2>/dev/null)" != "$(readlink /proc/self/ns/mnt)" ] && break
    sleep 0.1
  done
  # unshare may exec sleep as a child of `ip`: the holder is the sleep
  local h
  h=$(pgrep -P "$(cat "$RUN/holder.pid")" -x sleep || cat "$RUN/holder.pid")
  [ "$h" != "$(cat "$RUN/holder.pid")" ] && echo "$h" >"$RUN/holder.pid"
  mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt
  local d
  for d in etc:/etc/libvirt run:/run/libvirt lib:/var/lib/libvirt log:/var/log/libvirt cache:/var/cache/libvirt; do
    nsenter -t "$h" -m -- mount --bind "$c/${d%%:*}" "${d#*:}"
  done
  nsenter -t "$h" -m -n -- libvirtd --daemon --pid-file=/run/libvirt/libvirtd.pid
  for i in $(seq 1 100); do
    nsenter -t "$h" -m -n -- virsh -q -c qemu:///system version >/dev/null 2>&1 && break
    [ "$i" -lt 100 ] || die "libvirtd did not answer (log: $c/log)"
    sleep 0.3
  done
  nsenter -t "$h" -m -n -- virsh -q -c qemu:///system pool-define-as default dir --target /var/lib/libvirt/images >/dev/null
  nsenter -t "$h" -m -n -- virsh -q -c qemu:///system pool-start default >/dev/null
  log "up: namespace $NS, libvirtd $(cat "$c/run/libvirtd.pid") with private state in $c"
  timing "namespaces + libvirtd" $(($(now) - t0))
}

# ---------------------------------------------------------------------------- diagnosis
virshx() { nsx virsh -q -c qemu:///system "$@"; }
# the libvirt domain of VM (vagrant-libvirt names it <folder>_<vm>)
vm_domain() { virshx list --all --name | grep -- "_$1\$" | head -1; }

# Keeps the serial console of each VM (the pty libvirt gives it; the box boots with
# console=ttyS0) in $RUN/console-<vm>.log from now on: one `cat` per VM inside the namespaces,
# its PID in $RUN/console-<vm>.pid (down() stops it); it ends by itself with its VM.
console_logs() {
  local vm dom pty pidf
  for vm in "$@"; do
    pidf=$RUN/console-$vm.pid
    if [ -f "$pidf" ] && [ "$(cat "/proc/$(cat "$pidf")/comm" 2>/dev/null)" = cat ]; then continue; fi
    dom=$(vm_domain "$vm")
    pty=""
    [ -z "$dom" ] || pty=$(virshx ttyconsole "$dom" 2>/dev/null) || true
    if [ -z "$pty" ]; then
      log "console of $vm: no libvirt domain or pty, not kept"
      continue
    fi
    echo "=== $(date -u +%T) console of $vm ($dom, $pty) from here on" >>"$RUN/console-$vm.log"
    # shellcheck disable=SC2016 # $$ and $1 are the inner bash's
    nsx bash -c 'echo $$ >"$1"; exec cat "$2"' console "$pidf" "$pty" >>"$RUN/console-$vm.log" 2>&1 &
  done
}

# What check_reboot (scripts/lib/deployed.sh) shows of a VM that does not come back: its
# domain's state, the address ssh uses against its DHCP lease now, and its console.
vm_diagnose() {
  local vm=$1 dom
  dom=$(vm_domain "$vm")
  echo "--- $vm: libvirt domain ${dom:-(none)}: $(virshx domstate --reason "$dom" 2>&1)"
  echo "--- $vm: address in $RUN/ssh-config: $(awk -v h="$vm" '$1 == "Host" { c = ($2 == h) } c && $1 == "HostName" { print $2 }' "$RUN/ssh-config")"
  echo "--- $vm: its lease now:"
  virshx domifaddr "$dom" --source lease 2>&1 || true
  echo "--- leases of the management network:"
  virshx net-dhcp-leases vagrant-libvirt 2>&1 || true
  echo "--- $vm: last lines of its serial console ($RUN/console-$vm.log):"
  tail -40 "$RUN/console-$vm.log" 2>/dev/null | tr -d '\r' || true
}

# ---------------------------------------------------------------------------- the flow
# runs one user command inside the namespaces, keeps its output in $RUN/<name>.log
user_cmd() {
  local name=$1 rc=0
  shift
  user_cmd_status rc "$name" "$@"
  [ "$rc" -eq 0 ] || die "'$*' failed (exit $rc, log: $RUN/$name.log)"
}

# user_cmd_status VAR NAME CMD...: runs CMD like user_cmd, for a command that may fail: its
# exit status goes to the caller's variable VAR
user_cmd_status() {
  local -n status_=$1
  local name=$2 t0 label
  shift 2
  t0=$(now)
  log "\$ $*"
  set +e
  nsx "$@" 2>&1 | tee "$RUN/$name.log"
  status_=${PIPESTATUS[0]}
  set -e
  label="$FLOW: $*"
  [ "$status_" -eq 0 ] || label+=" (exit $status_)"
  timing "$label" $(($(now) - t0))
}

assert_log() { grep -qE "$2" "$RUN/$1.log" || die "$1: expected /$2/ in $RUN/$1.log"; }

# what the namespace still holds besides libvirtd and the holder
leftovers() {
  local vms nets pids p comm out=""
  vms=$(nsx virsh -q -c qemu:///system list --all --name | sed '/^$/d')
  nets=$(nsx virsh -q -c qemu:///system net-list --all --name | sed '/^$/d')
  [ -z "$vms" ] || out+="VMs: $vms; "
  [ -z "$nets" ] || out+="networks: $nets; "
  for p in $(ip netns pids "$NS"); do
    [ "$p" = "$(holder_pid)" ] && continue
    [ "$p" = "$(cat "$VD/libvirt/run/libvirtd.pid" 2>/dev/null)" ] && continue
    comm=$(cat "/proc/$p/comm" 2>/dev/null) || continue
    out+="process $p ($comm); "
  done
  pids=$(nsx ip -o link show type bridge | awk -F': ' '{print $2}')
  [ -z "$pids" ] || out+="bridges: $pids; "
  echo "$out"
}

# Stops the test's HTTP server for dist/ (ansible_local flow), by its PID, and waits (bounded)
# until it is gone.
stop_release_server() {
  local pid i
  [ -f "$RUN/http.pid" ] || return 0
  pid=$(cat "$RUN/http.pid")
  if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = python3 ]; then
    kill "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
  fi
  rm -f "$RUN/http.pid"
}

flow() {
  need_root
  FLOW=$1
  local env=(UTIZMON_PROVISIONER="$FLOW") t0 e
  t0=$(now)
  case "$FLOW" in
    ansible) ;;
    ansible_local)
      # the release URL path: the master (the Ansible controller here) downloads the release
      # from dist/ served inside the namespace, and verifies it against SHA256SUMS
      local tarball
      tarball=$(basename "$(ls "$ROOT"/dist/utizmon-*-x86_64-linux.tar.gz)")
      env+=(UTIZMON_RELEASE_URL="http://$MGMT_HOST_IP:$HTTP_PORT/$tarball")
      ;;
    *) die "unknown flow $FLOW (ansible|ansible_local)" ;;
  esac
  log "flow $FLOW: the user's commands, unchanged"
  user_cmd "$FLOW-create-all" env "${env[@]}" make create-all
  console_logs utizmon-master "${EDGES[@]}"
  if [ "$FLOW" = ansible_local ]; then
    # started now: it binds the management network's host address, which `vagrant up`
    # creates (and `make destroy-all` of an earlier flow removed)
    # the server's own PID goes to http.pid (bash writes $$, then execs python3 in place):
    # $! would be the subshell that runs nsx, and killing it would leave python3 running
    nsx bash -c 'echo $$ >"$1"; shift; exec "$@"' release-server "$RUN/http.pid" \
      python3 -m http.server --bind "$MGMT_HOST_IP" --directory "$ROOT/dist" "$HTTP_PORT" >"$RUN/http.log" 2>&1 &
    local i
    for i in $(seq 1 50); do
      nsx curl -fsS -o /dev/null "http://$MGMT_HOST_IP:$HTTP_PORT/SHA256SUMS" 2>/dev/null && break
      [ "$i" -lt 50 ] || die "the release server on $MGMT_HOST_IP:$HTTP_PORT did not start: $(tail -1 "$RUN/http.log")"
      sleep 0.2
    done
  fi
  user_cmd "$FLOW-run" env "${env[@]}" make run
  assert_log "$FLOW-run" "utizmon is up: 2 edge\\(s\\) connected"
  [ "$FLOW" = ansible ] && assert_log "$FLOW-run" "pick-binaries: building"
  [ "$FLOW" = ansible_local ] && assert_log "$FLOW-run" "pick-binaries: deploying the release http://"
  user_cmd "$FLOW-status" env "${env[@]}" make status
  assert_log "$FLOW-status" "utizmon-master +utizmon-server +active"
  for e in "${EDGES[@]}"; do assert_log "$FLOW-status" "$e +utizmon-edge +active"; done
  user_cmd "$FLOW-logs" env "${env[@]}" make logs
  assert_log "$FLOW-logs" "==> utizmon-master: journalctl -u utizmon-server"
  for e in "${EDGES[@]}"; do assert_log "$FLOW-logs" "==> $e: journalctl -u utizmon-edge"; done
  # the dashboard in headless Chromium, through Vagrant's forwarded port (127.0.0.1:5000 in
  # the namespace): both edges online and streaming
  # site.yml deploys TLS and an admin login; the password is where `make run` says: in
  # .secrets/ here, or in /vagrant/.secrets on the master when Ansible ran there
  local password="$ROOT/.secrets/admin-password"
  if [ "$FLOW" = ansible_local ]; then
    password="$RUN/admin-password"
    nsx env "${env[@]}" vagrant ssh utizmon-master -c 'sudo cat /vagrant/.secrets/admin-password' >"$password" \
      || die "cannot read the admin password from the master"
    chmod 600 "$password"
  fi
  user_cmd "$FLOW-dashboard" env UTIZMON_PASSWORD_FILE="$password" \
    node --experimental-websocket tests/browser/deployed.mjs https://127.0.0.1:5000/ "${EDGES[@]}"
  if [ "$FLOW" = ansible ]; then
    # the operator's checks of test-deploy (scripts/lib/deployed.sh), on the Vagrant VMs:
    # secrets, unit hardening, logins, /metrics, streaming, and an edge that reboots
    vm_ssh_config
    check_deployed
    check_reboot "${EDGES[0]}"
  fi
  if [[ " ${UTIZMON_VAGRANT_RERUN_FLOWS-$UTIZMON_VAGRANT_FLOWS} " == *" $FLOW "* ]]; then
    user_cmd "$FLOW-run2" env "${env[@]}" make run
    assert_unchanged "$RUN/$FLOW-run2.log" utizmon-master "${EDGES[@]}"
  else
    log "second make run: skipped for $FLOW (UTIZMON_VAGRANT_RERUN_FLOWS=${UTIZMON_VAGRANT_RERUN_FLOWS-})"
  fi
  if [ "$FLOW" = ansible ]; then
    # the operator's own variables (UTIZMON_VARS) reach site.yml; a broken alert rules file
    # among them fails `make run` on the master's validation and changes nothing
    printf '%s\n' "$BROKEN_RULES_VARS" >"$RUN/broken-rules.json"
    local rc=0
    user_cmd_status rc "$FLOW-bad-rules" env "${env[@]}" UTIZMON_VARS="$RUN/broken-rules.json" make run
    assert_rules_refused "$rc" "$RUN/$FLOW-bad-rules.log"
  fi
  user_cmd "$FLOW-destroy-all" env "${env[@]}" make destroy-all
  stop_release_server
  # Ansible's SSH connection masters (ansible.cfg: ControlPersist=60s) outlive the playbook by
  # up to a minute and then exit by themselves: wait for them (bounded) before judging
  local left i
  for i in $(seq 1 30); do
    left=$(leftovers)
    [ -n "$left" ] && [ "$i" -lt 30 ] || break
    sleep 3
  done
  [ -z "$left" ] || die "make destroy-all left: $left"
  log "make destroy-all: no VM, network, bridge or process left"
  timing "flow $FLOW total" $(($(now) - t0))
}

# ---------------------------------------------------------------------------- teardown
# Stops what this script started, by PID: QEMU and dnsmasq (libvirt's pid files in the
# private run dir), libvirtd, the HTTP server, the console readers, the holder; then deletes
# the namespace.
down() {
  local f pid comm
  for f in "$RUN/http.pid" "$RUN"/console-*.pid "$VD"/libvirt/run/qemu/*.pid "$VD"/libvirt/run/network/*.pid "$VD"/libvirt/lib/dnsmasq/*.pid "$VD/libvirt/run/libvirtd.pid"; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    case "$comm" in
      qemu-system-x86 | dnsmasq | libvirtd | python3 | cat) kill "$pid" 2>/dev/null || true ;;
    esac
  done
  # then vagrant's own helpers (ssh port forwards) a failed run left, and the holder
  netns_teardown "$NS"
  rm -f "$RUN/holder.pid"
  rm -rf "$ROOT/.vagrant/machines"
  log "down: libvirtd, VMs and namespace $NS gone (box cache kept in $VD)"
}

test_all() {
  need_root
  local t0 f
  t0=$(now)
  if ns_exists; then log "stale namespace $NS: tearing it down first"; down; fi
  rm -rf "$RUN" "$ROOT/.vagrant/machines"
  mkdir -p "$RUN"
  [ -f "$ROOT"/dist/SHA256SUMS ] || die "no dist/: run 'make dist' first (the ansible_local flow deploys the release)"
  trap 'rc=$?; down; exit $rc' EXIT
  trap 'exit 130' INT TERM
  box
  up
  for f in $UTIZMON_VAGRANT_FLOWS; do flow "$f"; done
  timing "total" $(($(now) - t0))
  log "Vagrant flow test passed; timings:"
  cat "$RUN/timings.txt"
}

case "${1:-}" in
  box) box ;;
  up) up ;;
  flow) flow "${2:?usage: deploy/vagrant-lab.sh flow ansible|ansible_local}" ;;
  down) down ;;
  test) test_all ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
    ;;
esac
