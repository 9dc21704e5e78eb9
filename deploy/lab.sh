#!/usr/bin/env bash
# deploy/lab.sh - the deployment test behind `make test-deploy`.
#
# Boots a master and two edge VMs (Debian 12, QEMU) on 192.168.56.0/24 inside a network
# namespace this script creates, deploys them with the SAME site.yml and roles as the Vagrant
# flow (inventory/lab.yml has the same names and addresses as the Vagrantfile), and checks
# what an operator would check: dashboard and /metrics reachable from the host, every edge
# streaming, an edge that reboots comes back by itself, and a second playbook run changes
# nothing. Everything it starts is stopped again, also on failure.
#
# Usage (as root, from anywhere):
#   deploy/lab.sh test       image + up + deploy + check + reboot + rerun, then down (CI)
#   deploy/lab.sh image      build (or reuse) the cached base image
#   deploy/lab.sh up         create the namespace and boot the VMs (no teardown)
#   deploy/lab.sh deploy     run site.yml against the running VMs
#   deploy/lab.sh check      dashboard, /metrics and streaming checks
#   deploy/lab.sh reboot     reboot utizmon-edge-1 and check it comes back and reconnects
#   deploy/lab.sh rerun      run site.yml again and assert changed=0 on every host
#   deploy/lab.sh bad-rules  run site.yml with a broken alert rules file: it must fail clearly
#   deploy/lab.sh ssh NAME   a shell on a lab VM (inside the namespace)
#   deploy/lab.sh down       stop the VMs and forwards started here, delete the namespace
#   deploy/lab.sh mirror     print the Debian mirror taken from this machine's apt sources
#
# Network rule: the bridge (192.168.56.1/24), the taps, QEMU, ssh and ansible all live in the
# namespace; the VMs have no route anywhere else. The only listener in the root namespace is
# a socat on 127.0.0.1 that forwards into the namespace for the host-side checks.
#
# Environment: UTIZMON_LAB_DIR (cache and run state, default .vm-lab/ in the repo, ignored
# by git), UTIZMON_LAB_NS (namespace name), UTIZMON_LAB_MEMORY (MiB per VM, default 512),
# UTIZMON_LAB_PORT (host loopback port for the dashboard forward, default 15000 or a free one),
# UTIZMON_LAB_BOOT_TIMEOUT (seconds, default 420), UTIZMON_LAB_ACCEL (tcg|kvm).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/netns.sh
. "$ROOT/scripts/lib/netns.sh"
# shellcheck source=scripts/lib/deployed.sh
. "$ROOT/scripts/lib/deployed.sh"
LAB_DIR=${UTIZMON_LAB_DIR:-$ROOT/.vm-lab}
IMG=$LAB_DIR/image
RUN=$LAB_DIR/run
NS=${UTIZMON_LAB_NS:-utizmon-lab}
BR=utzbr0
HOST_IP=192.168.56.1
MEM=${UTIZMON_LAB_MEMORY:-512}
FWD_PORT=${UTIZMON_LAB_PORT:-}
BOOT_TIMEOUT=${UTIZMON_LAB_BOOT_TIMEOUT:-420}
SUITE=bookworm
KEY=$IMG/lab_ed25519
# name -> last octet of the address (and of the MAC); same layout as the Vagrantfile
NAMES=(utizmon-master utizmon-edge-1 utizmon-edge-2)
declare -A OCTET=([utizmon-master]=10 [utizmon-edge-1]=11 [utizmon-edge-2]=12)
EDGES=(utizmon-edge-1 utizmon-edge-2)
MASTER_IP=192.168.56.10
SSH_OPTS=(-i "$KEY" -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null
  -o LogLevel=ERROR -o ConnectTimeout=3 -o BatchMode=yes -o ServerAliveInterval=5 -o ServerAliveCountMax=3)

# QEMU acceleration: nested hosts like CI's expose a /dev/kvm (kvm_pvm) under which stock
# Debian kernels hang, so software emulation (TCG) is the default there.
ACCEL=${UTIZMON_LAB_ACCEL:-}
if [ -z "$ACCEL" ]; then
  if [ -w /dev/kvm ] && [ ! -d /sys/module/kvm_pvm ]; then ACCEL=kvm; else ACCEL=tcg; fi
fi
if [ "$ACCEL" = kvm ]; then ACCEL_OPTS=(-enable-kvm -cpu host); else ACCEL_OPTS=(-accel tcg,thread=multi -cpu max); fi

log() { printf '[lab %s] %s\n' "$(date -u +%T)" "$*"; }
die() { printf '[lab %s] ERROR: %s\n' "$(date -u +%T)" "$*" >&2; exit 1; }
now() { date +%s; }
# record a timing line (shown again at the end of `test`)
timing() { mkdir -p "$RUN"; printf '%-34s %5d s\n' "$1" "$2" | tee -a "$RUN/timings.txt"; }
nsx() { ip netns exec "$NS" "$@"; }
# VM_SSH_LIMIT (seconds), when set, bounds the whole command (scripts/lib/deployed.sh, vm_probe)
vm_ssh() {
  local name=$1 limit=()
  shift
  [ -z "${VM_SSH_LIMIT:-}" ] || limit=(timeout -k 5 "$VM_SSH_LIMIT")
  nsx "${limit[@]}" ssh "${SSH_OPTS[@]}" "vagrant@192.168.56.${OCTET[$name]}" "$@"
}
# what check_reboot shows of a VM that does not come back (scripts/lib/deployed.sh)
vm_diagnose() {
  echo "--- $1: last lines of its serial console ($RUN/$1.console)"
  tail -40 "$RUN/$1.console" 2>/dev/null || true
}
ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$NS"; }

need_root() { [ "$(id -u)" -eq 0 ] || die "needs root (network namespace, taps, debootstrap); run it with sudo"; }
need_tools() {
  local t missing=()
  for t in debootstrap qemu-system-x86_64 qemu-img ansible-playbook ssh ssh-keygen socat mkfs.ext4 curl openssl python3 ip; do
    command -v "$t" >/dev/null 2>&1 || missing+=("$t")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing tools: ${missing[*]} (install them with: bash scripts/deps.sh deploy)"
}

# ---------------------------------------------------------------------------- image
# The Debian mirror this machine's apt is configured with: the first `deb` source of a
# Debian archive (one that has a Release file for $SUITE is not checked here: debootstrap
# says so clearly) in /etc/apt/sources.list, sources.list.d/*.list (one-line format) or
# sources.list.d/*.sources (deb822). Nothing else: there is no built-in fallback address, so
# a machine without a configured mirror gets a clear error instead of a surprise download.
# UTIZMON_LAB_APT_DIR (default /etc/apt) exists for the test of this function.
mirror() {
  local dir=${UTIZMON_LAB_APT_DIR:-/etc/apt} f m=""
  for f in "$dir/sources.list" "$dir"/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    # "deb [opts] URI suite components": skip the bracketed options, keep http(s)/file URIs
    m=$(sed -E 's/#.*//; s/\[[^]]*\]//' "$f" | awk '$1=="deb" && $2 ~ /^(https?|file):/ && $2 ~ /debian\/?$/ {print $2; exit}')
    [ -n "$m" ] && break
  done
  if [ -z "$m" ]; then
    for f in "$dir"/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      # deb822 stanzas: the URIs of the first enabled `Types: deb` stanza whose URI ends in /debian
      m=$(awk '
        function flush() { if (deb && enabled && uri != "") { print uri; found = 1; exit } deb = 0; enabled = 1; uri = "" }
        BEGIN { enabled = 1 }
        /^[ \t]*#/ { next }
        /^[ \t]*$/ { flush(); next }
        tolower($1) == "types:" { for (i = 2; i <= NF; i++) if ($i == "deb") deb = 1 }
        tolower($1) == "enabled:" { enabled = (tolower($2) != "no") }
        tolower($1) == "uris:" { for (i = 2; i <= NF; i++) if ($i ~ /^(https?|file):/ && $i ~ /debian\/?$/) { uri = $i; break } }
        END { if (!found) flush() }' "$f")
      [ -n "$m" ] && break
    done
  fi
  [ -n "$m" ] || die "no Debian mirror in this machine's apt configuration ($dir/sources.list, $dir/sources.list.d/*.list or *.sources): add the mirror you use there, or set UTIZMON_LAB_APT_DIR"
  echo "${m%/}"
}

# Everything the roles need inside the VMs is here: systemd, python3 for Ansible, sshd, sudo.
PACKAGES=systemd-sysv,udev,kmod,dbus,linux-image-amd64,initramfs-tools,openssh-server,python3,sudo,iproute2,iputils-ping,procps

build_rootfs() {
  local r=$IMG/rootfs stamp="$SUITE $PACKAGES"
  if [ -x "$r/usr/sbin/sshd" ] && [ "$(cat "$IMG/rootfs.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "rootfs: reusing $r"
    return
  fi
  rm -rf "$r" "$IMG/rootfs.stamp"
  mkdir -p "$IMG"
  local m
  m=$(mirror) || exit 1
  log "rootfs: debootstrap $SUITE from $m (about 2-4 minutes)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$r" "$m" >"$IMG/debootstrap.log" 2>&1 ||
    { tail -20 "$IMG/debootstrap.log" >&2; die "debootstrap failed (full log: $IMG/debootstrap.log)"; }
  chroot "$r" apt-get clean
  echo "$stamp" >"$IMG/rootfs.stamp"
}

# Turns the rootfs into a bootable lab machine: static addresses per MAC, a `vagrant` user
# with the lab key (as on a Vagrant box), fast boot under emulation.
customise_rootfs() {
  local r=$IMG/rootfs n
  [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C utizmon-lab -f "$KEY"
  echo localhost >"$r/etc/hostname"
  {
    echo "127.0.0.1 localhost"
    for n in "${NAMES[@]}"; do echo "192.168.56.${OCTET[$n]} $n"; done
  } >"$r/etc/hosts"
  echo '/dev/vda / ext4 defaults,noatime 0 1' >"$r/etc/fstab"
  : >"$r/etc/machine-id"
  rm -f "$r/var/lib/dbus/machine-id"
  rm -f "$r"/etc/systemd/network/10-lab-*.network
  mkdir -p "$r/etc/systemd/network"
  for n in $(seq 10 29); do
    printf '[Match]\nMACAddress=52:54:00:56:00:%s\n[Network]\nAddress=192.168.56.%s/24\n' "$n" "$n" \
      >"$r/etc/systemd/network/10-lab-$n.network"
  done
  chroot "$r" systemctl enable systemd-networkd.service serial-getty@ttyS0.service >/dev/null 2>&1
  chroot "$r" systemctl disable apt-daily.timer apt-daily-upgrade.timer >/dev/null 2>&1 || true
  # costs ~40 s of boot under emulation and is useless in a throwaway VM
  chroot "$r" systemctl mask e2scrub_reap.service >/dev/null 2>&1 || true
  # one ed25519 host key per VM, made at first boot (rsa/ecdsa cost ~30 s each under TCG)
  rm -f "$r"/etc/ssh/ssh_host_*
  mkdir -p "$r/etc/systemd/system/ssh.service.d"
  cat >"$r/etc/systemd/system/ssh.service.d/lab-keygen.conf" <<'EOF'
[Service]
ExecStartPre=
ExecStartPre=/bin/sh -c 'test -f /etc/ssh/ssh_host_ed25519_key || ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key'
ExecStartPre=/usr/sbin/sshd -t
EOF
  printf 'UseDNS no\nHostKey /etc/ssh/ssh_host_ed25519_key\nPasswordAuthentication no\n' >"$r/etc/ssh/sshd_config.d/lab.conf"
  chroot "$r" id vagrant >/dev/null 2>&1 || chroot "$r" useradd -m -s /bin/bash vagrant
  install -d -m 700 "$r/home/vagrant/.ssh"
  install -m 600 "$KEY.pub" "$r/home/vagrant/.ssh/authorized_keys"
  chroot "$r" chown -R vagrant:vagrant /home/vagrant/.ssh
  echo 'vagrant ALL=(ALL) NOPASSWD:ALL' >"$r/etc/sudoers.d/vagrant"
  chmod 440 "$r/etc/sudoers.d/vagrant"
  chroot "$r" passwd -l root >/dev/null
}

image() {
  need_root
  need_tools
  local t0 recipe kver
  t0=$(now)
  recipe=$( (declare -f customise_rootfs; echo "$PACKAGES $SUITE") | sha256sum | cut -c1-16)
  if [ -f "$IMG/base.qcow2" ] && [ "$(cat "$IMG/image.stamp" 2>/dev/null)" = "$recipe" ] && [ -f "$KEY" ]; then
    log "image: cached $IMG/base.qcow2 (recipe $recipe)"
    return
  fi
  build_rootfs
  customise_rootfs
  kver=$(find "$IMG/rootfs/boot" -name 'vmlinuz-*' -printf '%f\n' | sed 's/^vmlinuz-//' | sort -V | tail -1)
  [ -n "$kver" ] || die "no kernel in the rootfs"
  cp "$IMG/rootfs/boot/vmlinuz-$kver" "$IMG/vmlinuz"
  cp "$IMG/rootfs/boot/initrd.img-$kver" "$IMG/initrd.img"
  rm -f "$IMG/base.raw" "$IMG/base.qcow2" "$IMG/image.stamp"
  truncate -s 4G "$IMG/base.raw"
  # mkfs.ext4 -d copies the tree into the filesystem: no loop mount, no nbd
  mkfs.ext4 -q -F -L utizroot -d "$IMG/rootfs" "$IMG/base.raw"
  qemu-img convert -f raw -O qcow2 "$IMG/base.raw" "$IMG/base.qcow2"
  rm -f "$IMG/base.raw"
  echo "$recipe" >"$IMG/image.stamp"
  log "image: built $IMG/base.qcow2 ($(du -h "$IMG/base.qcow2" | cut -f1), kernel $kver)"
  timing "image build" $(($(now) - t0))
}

# ---------------------------------------------------------------------------- VMs
net_up() {
  ns_exists && die "namespace $NS already exists: run 'deploy/lab.sh down' first"
  ip netns add "$NS"
  nsx ip link set lo up
  nsx ip link add "$BR" type bridge
  nsx ip addr add "$HOST_IP/24" dev "$BR"
  nsx ip link set "$BR" up
  local n
  for n in "${NAMES[@]}"; do
    nsx ip tuntap add dev "tap${OCTET[$n]}" mode tap
    nsx ip link set "tap${OCTET[$n]}" master "$BR"
    nsx ip link set "tap${OCTET[$n]}" up
  done
}

start_vm() {
  local n=$1 id=${OCTET[$1]}
  qemu-img create -q -f qcow2 -b "$IMG/base.qcow2" -F qcow2 "$RUN/$n.qcow2"
  nsx qemu-system-x86_64 -name "$n" "${ACCEL_OPTS[@]}" -smp 1 -m "$MEM" \
    -display none -vga none -monitor none -serial "file:$RUN/$n.console" \
    -daemonize -pidfile "$RUN/$n.pid" \
    -kernel "$IMG/vmlinuz" -initrd "$IMG/initrd.img" \
    -append "root=/dev/vda rw console=ttyS0 systemd.hostname=$n quiet" \
    -drive "file=$RUN/$n.qcow2,if=virtio,format=qcow2,discard=unmap" \
    -netdev "tap,id=n0,ifname=tap$id,script=no,downscript=no" \
    -device "virtio-net-pci,netdev=n0,mac=52:54:00:56:00:$id" \
    -device virtio-rng-pci
}

# Polls until NAME answers over SSH (bounded by BOOT_TIMEOUT seconds from START).
wait_ssh() {
  local n=$1 start=$2
  while ! vm_ssh "$n" true 2>/dev/null; do
    if [ $(($(now) - start)) -ge "$BOOT_TIMEOUT" ]; then
      tail -20 "$RUN/$n.console" >&2 || true
      die "$n did not answer SSH within $BOOT_TIMEOUT s (console: $RUN/$n.console)"
    fi
    sleep 2
  done
}

up() {
  need_root
  need_tools
  [ -f "$IMG/base.qcow2" ] || die "no base image: run 'deploy/lab.sh image' first"
  local t0 n
  t0=$(now)
  mkdir -p "$RUN"
  net_up
  for n in "${NAMES[@]}"; do start_vm "$n"; done
  for n in "${NAMES[@]}"; do
    wait_ssh "$n" "$t0"
    log "$n ssh-ready after $(($(now) - t0)) s"
  done
  timing "boot 3 VMs to ssh-ready" $(($(now) - t0))
}

# ---------------------------------------------------------------------------- ansible
# playbook LOG [ANSIBLE ARGS...]
playbook() {
  local out=$1
  shift
  # ANSIBLE_CONFIG: the repo's ansible.cfg, whatever the current directory
  (cd "$ROOT" && ANSIBLE_CONFIG="$ROOT/ansible.cfg" ANSIBLE_FORCE_COLOR=0 \
    nsx ansible-playbook -i inventory/lab.yml site.yml \
    --private-key "$KEY" \
    --ssh-common-args "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" \
    -e "utizmon_secrets_dir=$RUN/secrets" \
    -e "utizmon_binary_dir=${UTIZMON_BINARY_DIR:-$ROOT/target/release}" "$@") 2>&1 | tee "$out"
  return "${PIPESTATUS[0]}"
}

need_binaries() {
  local b
  for b in utizmon-server utizmon-edge; do
    [ -x "${UTIZMON_BINARY_DIR:-$ROOT/target/release}/$b" ] || die "no $b binary: run 'make release' first"
  done
}

deploy() {
  need_root
  need_binaries
  local t0
  t0=$(now)
  playbook "$RUN/play1.log" || die "playbook failed (log: $RUN/play1.log)"
  timing "playbook (first run)" $(($(now) - t0))
}

# A broken alert rules file must fail the deploy on the master (utizmon-server alert-rules
# check) before anything uses it: nothing installed, the server keeps running.
bad_rules() {
  need_root
  local t0 rc=0
  t0=$(now)
  playbook "$RUN/play-bad-rules.log" -e "$BROKEN_RULES_VARS" || rc=$?
  assert_rules_refused "$rc" "$RUN/play-bad-rules.log"
  timing "playbook with broken rules" $(($(now) - t0))
}

rerun() {
  need_root
  local t0
  t0=$(now)
  playbook "$RUN/play2.log" || die "second playbook run failed (log: $RUN/play2.log)"
  timing "playbook rerun" $(($(now) - t0))
  assert_unchanged "$RUN/play2.log" "${NAMES[@]}"
}

# ---------------------------------------------------------------------------- checks
# What site.yml generated on the controller: the deployment CA and the admin's password.
SECRETS=$RUN/secrets
CA=$SECRETS/ca.pem
# the operator's host reaches the dashboard through forward_up's loopback port
host_curl() { curl "$@"; }

# Starts (or finds) the loopback forward to the master's :5000 and sets HOST_URL to it.
forward_up() {
  if [ -f "$RUN/socat.pid" ] && kill -0 "$(cat "$RUN/socat.pid")" 2>/dev/null; then
    FWD_PORT=$(cat "$RUN/socat.port")
    HOST_URL=https://127.0.0.1:$FWD_PORT
    return 0
  fi
  # 15000 unless taken, else any free loopback port
  if [ -z "$FWD_PORT" ]; then
    FWD_PORT=$(python3 -c '
import socket
for port in (15000, 0):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    print(s.getsockname()[1])
    break')
  fi
  echo "$FWD_PORT" >"$RUN/socat.port"
  HOST_URL=https://127.0.0.1:$FWD_PORT
  # root-namespace listener on loopback only; each connection enters the namespace
  socat "TCP-LISTEN:$FWD_PORT,bind=127.0.0.1,reuseaddr,fork" \
    "EXEC:ip netns exec $NS socat STDIO TCP\:$MASTER_IP\:5000" >"$RUN/socat.log" 2>&1 &
  echo $! >"$RUN/socat.pid"
  local i
  for i in $(seq 1 50); do
    curl -fsS --max-time 5 --cacert "$CA" -o /dev/null "https://127.0.0.1:$FWD_PORT/healthz" 2>/dev/null && return 0
    kill -0 "$(cat "$RUN/socat.pid")" 2>/dev/null || die "socat forward on 127.0.0.1:$FWD_PORT died: $(cat "$RUN/socat.log")"
    sleep 0.2
  done
  die "no answer through the forward on 127.0.0.1:$FWD_PORT"
}

# the operator's checks (scripts/lib/deployed.sh) from the host through the loopback forward
check() {
  need_root
  forward_up
  check_deployed
}

reboot_edge() {
  need_root
  check_reboot "${EDGES[0]}"
}

# ---------------------------------------------------------------------------- teardown
# Stops only what this script started: PIDs from its own pid files whose command is the one
# it started, then whatever still runs inside its own namespace, then deletes the namespace.
down() {
  local f pid comm
  for f in "$RUN"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || true)
    case "$comm" in
      qemu-system-x86 | socat) kill "$pid" 2>/dev/null || true ;;
    esac
    rm -f "$f"
  done
  netns_teardown "$NS"
  rm -f "$RUN"/*.qcow2 "$RUN/socat.port"
  log "down: VMs stopped, namespace $NS deleted (image cache kept in $IMG)"
}

test_all() {
  need_root
  need_tools
  need_binaries
  local t0
  t0=$(now)
  # a namespace left by a run that was killed hard (SIGKILL): ours by name, clean it first
  if ns_exists; then
    log "stale namespace $NS found: tearing it down first"
    down
  fi
  rm -rf "$RUN"
  mkdir -p "$RUN/bin"
  # both playbook runs deploy this snapshot, even if target/release is rebuilt meanwhile
  cp "${UTIZMON_BINARY_DIR:-$ROOT/target/release}"/utizmon-{server,edge} "$RUN/bin/"
  export UTIZMON_BINARY_DIR=$RUN/bin
  trap 'rc=$?; down; exit $rc' EXIT
  trap 'exit 130' INT TERM
  image
  up
  deploy
  check
  reboot_edge
  rerun
  bad_rules
  timing "total" $(($(now) - t0))
  log "deployment test passed; timings:"
  cat "$RUN/timings.txt"
  log "systemd-analyze security exposure:"
  cat "$RUN/exposure.txt"
}

case "${1:-}" in
  image) image ;;
  up) up ;;
  deploy) deploy ;;
  check) check ;;
  reboot) reboot_edge ;;
  rerun) rerun ;;
  bad-rules) bad_rules ;;
  down) down ;;
  test) test_all ;;
  mirror) mirror ;;
  ssh)
    [ -n "${2:-}" ] && [ -n "${OCTET[${2:-x}]:-}" ] || die "usage: deploy/lab.sh ssh ${NAMES[*]}"
    n=$2
    shift 2
    vm_ssh "$n" "$@"
    ;;
  *)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 2
    ;;
esac
