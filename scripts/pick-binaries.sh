#!/usr/bin/env bash
# scripts/pick-binaries.sh - decides which utizmon binaries `make run` deploys, so that a
# host without Rust, or a non-Linux host (Windows + Git Bash, macOS), never deploys binaries
# built for the wrong system. The VMs run Linux x86_64; in this order:
#   1. UTIZMON_RELEASE_URL is set: the roles download that release tarball and verify it
#      against the SHA256SUMS beside it (nothing from this host is copied).
#   2. cargo is here and this host is Linux x86_64: `cargo build --release --locked`, deploy
#      target/release.
#   3. dist/ holds a release tarball (`make dist`, or one downloaded by hand next to its
#      SHA256SUMS): verify it, unpack it under dist/unpacked/, deploy its bin/.
#   4. target/release already holds Linux x86_64 binaries (copied from a Linux machine).
#   5. UTIZMON_BUILD_IN_VM=1 (opt-in): build inside the master VM (scripts/build-in-vm.sh).
#   Otherwise: an error that lists these options.
# Every candidate binary is checked by its ELF header (scripts/lib/binaries.sh), never by
# its name. Each step says on stderr what it does and why; stdout gets one line for make:
#   binary_dir <directory relative to the repo>   or   release_url <url>
# Environment: UTIZMON_RELEASE_URL, UTIZMON_BUILD_IN_VM, CARGO (default cargo), UTIZMON_REPO
# (the checkout, default this script's), DIST_DIR (default dist).
set -euo pipefail
REPO=${UTIZMON_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
# shellcheck source=scripts/lib/binaries.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib/binaries.sh"
cd "$REPO"
CARGO=${CARGO:-cargo}
DIST=${DIST_DIR:-dist}

say() { echo "pick-binaries: $*" >&2; }
choose() { echo "$1 $2"; exit 0; }

os=$(uname -s)
arch=$(uname -m)
host="$os/$arch"

if [ -n "${UTIZMON_RELEASE_URL:-}" ]; then
  case "$UTIZMON_RELEASE_URL" in
    http://* | https://*) ;;
    *) say "error: UTIZMON_RELEASE_URL=$UTIZMON_RELEASE_URL is not an http(s) URL of a utizmon-*-x86_64-linux.tar.gz"; exit 1 ;;
  esac
  say "deploying the release $UTIZMON_RELEASE_URL (UTIZMON_RELEASE_URL is set): the roles download it and check it against the SHA256SUMS next to it; nothing is built or copied from this host"
  choose release_url "$UTIZMON_RELEASE_URL"
fi

if [ "$os" = Linux ] && [ "$arch" = x86_64 ] && command -v "$CARGO" >/dev/null 2>&1; then
  say "building: $CARGO build --release --locked -p utizmon-server -p utizmon-edge (this host is Linux x86_64 like the VMs)"
  "$CARGO" build --release --locked -p utizmon-server -p utizmon-edge >&2
  why=$(deployable_dir target/release) || { say "error: the build did not produce deployable binaries: $why"; exit 1; }
  choose binary_dir target/release
fi
if command -v "$CARGO" >/dev/null 2>&1; then
  say "not building with cargo: this host is $host, and cargo would build for it, not for the Linux x86_64 VMs"
else
  say "not building: no cargo on this host ($host)"
fi

# newest release tarball in dist/ (version order), verified against dist/SHA256SUMS
tarball=$(find "$DIST" -maxdepth 1 -name 'utizmon-*-x86_64-linux.tar.gz' 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$tarball" ]; then
  name=$(basename "$tarball" .tar.gz)
  [ -f "$DIST/SHA256SUMS" ] || { say "error: $tarball has no $DIST/SHA256SUMS next to it: refusing to deploy an unverified release"; exit 1; }
  sum=$(awk -v f="$name.tar.gz" '$2 == f || $2 == "*" f {print $1}' "$DIST/SHA256SUMS")
  [ -n "$sum" ] || { say "error: $DIST/SHA256SUMS has no line for $name.tar.gz"; exit 1; }
  actual=$(sha256sum "$tarball" | cut -d' ' -f1)
  [ "$sum" = "$actual" ] || { say "error: $tarball does not match $DIST/SHA256SUMS (expected $sum, got $actual): refusing to deploy it"; exit 1; }
  rm -rf "$DIST/unpacked/$name"
  mkdir -p "$DIST/unpacked"
  tar -xzf "$tarball" -C "$DIST/unpacked"
  why=$(deployable_dir "$DIST/unpacked/$name/bin") || { say "error: $tarball: $why"; exit 1; }
  say "deploying the release $tarball (checksum verified), unpacked in $DIST/unpacked/$name"
  choose binary_dir "$DIST/unpacked/$name/bin"
fi

if why=$(deployable_dir target/release); then
  say "deploying the prebuilt Linux x86_64 binaries in target/release (no dist/ release found)"
  choose binary_dir target/release
elif [ -e target/release/utizmon-server ] || [ -e target/release/utizmon-edge ] ||
  [ -e target/release/utizmon-server.exe ]; then
  say "not deploying target/release: $why"
fi

if [ "${UTIZMON_BUILD_IN_VM:-}" = 1 ]; then
  say "building inside the master VM (UTIZMON_BUILD_IN_VM=1): scripts/build-in-vm.sh"
  bash "$(dirname "${BASH_SOURCE[0]}")/build-in-vm.sh" target/vm-build >&2
  why=$(deployable_dir target/vm-build) || { say "error: the build in the VM did not produce deployable binaries: $why"; exit 1; }
  choose binary_dir target/vm-build
fi

say "error: no Linux x86_64 utizmon binaries to deploy from this $host host. Any one of:"
say "  - put a release in $DIST/: utizmon-VERSION-x86_64-linux.tar.gz and its SHA256SUMS ('make dist' on a Linux x86_64 machine)"
say "  - UTIZMON_RELEASE_URL=https://.../utizmon-VERSION-x86_64-linux.tar.gz make run   (SHA256SUMS next to it)"
say "  - copy utizmon-server and utizmon-edge built on Linux x86_64 into target/release/"
say "  - UTIZMON_BUILD_IN_VM=1 make run   (builds in the master VM; slow, needs the VM online; docs/deploy.md)"
exit 1
