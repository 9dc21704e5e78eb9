#!/usr/bin/env bash
# scripts/build-in-vm.sh OUT_DIR - opt-in (UTIZMON_BUILD_IN_VM=1 make run) for a host without
# a Linux Rust toolchain: builds the release binaries inside the running master VM and copies
# them back to OUT_DIR. The VM needs internet access (crates) and a Rust toolchain of at
# least the workspace's rust-version; Debian 12's own rustc is too old, so if cargo is
# missing in the VM this stops and says how to install it. Plan for 10+ minutes and give the
# master 2 GiB (UTIZMON_MEMORY=2048 make create-all). The source is the committed HEAD
# (git archive), so local edits must be committed first.
set -euo pipefail
OUT=${1:?usage: build-in-vm.sh OUT_DIR}
VAGRANT=${VAGRANT:-vagrant}
VM=${UTIZMON_MASTER_VM:-utizmon-master}
SRC=/home/vagrant/utizmon-build
cd "$(dirname "${BASH_SOURCE[0]}")/.."
say() { echo "build-in-vm: $*" >&2; }

command -v "$VAGRANT" >/dev/null 2>&1 || { say "error: $VAGRANT is not installed"; exit 1; }
# `vagrant ssh -c` output crosses a terminal layer on Windows: move binaries as base64 text
vm() { "$VAGRANT" ssh "$VM" --no-tty -c "$1" 2>/dev/null | tr -d '\r'; }
if ! vm 'bash -lc "command -v cargo"' | grep -q cargo; then
  say "error: no cargo in $VM. Install Rust there once (rust-lang.org/tools/install, as user vagrant):"
  say "  $VAGRANT ssh $VM   then follow the rustup instructions, and: sudo apt-get install -y gcc"
  exit 1
fi
say "copying the committed source (git archive HEAD) to $VM:$SRC"
git archive --format=tar HEAD | "$VAGRANT" ssh "$VM" --no-tty -c "rm -rf $SRC && mkdir -p $SRC && tar -xf - -C $SRC" >/dev/null
say "cargo build --release --locked in $VM (10+ minutes)"
"$VAGRANT" ssh "$VM" -c "bash -lc 'cd $SRC && cargo build --release --locked -p utizmon-server -p utizmon-edge'" >&2
mkdir -p "$OUT"
for b in utizmon-server utizmon-edge; do
  vm "base64 -w0 $SRC/target/release/$b" | base64 -d >"$OUT/$b"
  chmod 0755 "$OUT/$b"
done
say "copied the binaries to $OUT"
