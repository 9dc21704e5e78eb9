#!/usr/bin/env bash
# scripts/test-dist.sh - `make test-dist`: the real release packages from `make dist` pass
# lintian without errors, and install, run their maintainer scripts, and purge cleanly on a
# real Debian 12 system: a throwaway copy of the root filesystem deploy/lab.sh builds (built
# here if the cache has none), used as a chroot. Checks: the system user, /etc/utizmon
# modes, the generated token (and the edge reusing it on the master), the units enabled;
# purging one package keeps what the other still needs; purging both leaves the filesystem
# exactly as before installing (file list compared, apt/dpkg bookkeeping aside).
# Needs root (chroot). Environment: DIST_DIR (default dist/), UTIZMON_LAB_DIR.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DIST_DIR=${DIST_DIR:-$ROOT/dist}
LAB_DIR=${UTIZMON_LAB_DIR:-$ROOT/.vm-lab}
log() { printf '[test-dist] %s\n' "$*"; }
die() { printf '[test-dist] FAIL: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (chroot); run it with sudo"
ls "$DIST_DIR"/utizmon-server_*_amd64.deb "$DIST_DIR"/utizmon-edge_*_amd64.deb >/dev/null 2>&1 ||
  die "no packages in $DIST_DIR: run 'make dist' first"
(cd "$DIST_DIR" && sha256sum -c --quiet SHA256SUMS) || die "$DIST_DIR/SHA256SUMS does not verify"

if command -v lintian >/dev/null 2>&1; then
  # tags that do not apply to a binary-only package built without debhelper, and why:
  # no man page yet (--help is complete); a first release closes no Debian bug
  lint=$(lintian --fail-on none --suppress-tags no-manual-page,initial-upload-closes-no-bugs \
    "$DIST_DIR"/utizmon-*.deb 2>&1 | grep -v 'running with root privileges' || true)
  [ -z "$lint" ] || log "lintian notes:"$'\n'"$lint"
  echo "$lint" | grep -q '^E:' && die "lintian reports errors"
  log "lintian: no errors"
else
  log "lintian is not installed: skipped (bash scripts/deps.sh deploy installs it)"
fi

[ -x "$LAB_DIR/image/rootfs/usr/sbin/sshd" ] || "$ROOT/deploy/lab.sh" image
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
R=$WORK/root
cp -a "$LAB_DIR/image/rootfs" "$R"
cp "$DIST_DIR"/utizmon-server_*_amd64.deb "$R/tmp/server.deb"
cp "$DIST_DIR"/utizmon-edge_*_amd64.deb "$R/tmp/edge.deb"
in_root() { chroot "$R" "$@"; }
# every path on the system except dpkg's and apt's own bookkeeping and logs
snapshot() {
  (cd "$R" && find . -xdev \( -path ./var/lib/dpkg -o -path ./var/log -o -path ./var/cache -o -path ./tmp \) -prune -o -print) |
    sort
}
snapshot >"$WORK/before"

log "dpkg -i utizmon-server utizmon-edge"
in_root dpkg -i /tmp/server.deb /tmp/edge.deb >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; die "dpkg -i failed"; }
in_root getent passwd utizmon | grep -q ':/nonexistent:/usr/sbin/nologin$' || die "no utizmon system user with nologin"
[ "$(in_root id -u utizmon)" -lt 1000 ] || die "utizmon is not a system user"
# numeric ids: names would be resolved with this host's /etc/group, not the chroot's
gid=$(in_root getent group utizmon | cut -d: -f3)
[ "$(stat -c '%a %u %g' "$R/etc/utizmon")" = "750 0 $gid" ] || die "/etc/utizmon is $(stat -c '%a %u %g' "$R/etc/utizmon") (want 750 0 $gid)"
for f in server.env edge.env server.token edge.token; do
  [ "$(stat -c '%a %u %g' "$R/etc/utizmon/$f")" = "640 0 $gid" ] || die "/etc/utizmon/$f is $(stat -c '%a %u %g' "$R/etc/utizmon/$f") (want 640 0 $gid)"
done
[ "$(wc -c <"$R/etc/utizmon/server.token")" -eq 48 ] || die "server.token is not 48 characters"
cmp -s "$R/etc/utizmon/server.token" "$R/etc/utizmon/edge.token" || die "the edge on the master does not use the master's token"
for s in utizmon-server utizmon-edge; do
  [ -L "$R/etc/systemd/system/multi-user.target.wants/$s.service" ] || die "$s.service is not enabled"
  in_root "$s" --version >/dev/null || die "$s --version failed in the chroot"
done
log "installed: system user, /etc/utizmon 0750, env and tokens 0640 root:utizmon, both units enabled"

log "reinstall (upgrade path) keeps the token"
tok=$(cat "$R/etc/utizmon/server.token")
in_root dpkg -i /tmp/server.deb >"$WORK/install2.log" 2>&1 || { cat "$WORK/install2.log"; die "reinstall failed"; }
[ "$(cat "$R/etc/utizmon/server.token")" = "$tok" ] || die "reinstalling replaced the token"

log "dpkg --purge utizmon-edge (the server still needs the account)"
mkdir -p "$R/var/lib/utizmon-edge" && echo segment >"$R/var/lib/utizmon-edge/0001.seg"
in_root dpkg --purge utizmon-edge >"$WORK/purge1.log" 2>&1 || { cat "$WORK/purge1.log"; die "purge of utizmon-edge failed"; }
[ ! -e "$R/etc/utizmon/edge.token" ] && [ ! -e "$R/etc/utizmon/edge.env" ] || die "the edge's configuration survived its purge"
[ ! -e "$R/var/lib/utizmon-edge" ] || die "the edge's disk buffer survived its purge"
[ ! -e "$R/etc/systemd/system/multi-user.target.wants/utizmon-edge.service" ] || die "utizmon-edge is still enabled"
in_root getent passwd utizmon >/dev/null || die "purging the edge removed the account the server still uses"
[ -e "$R/etc/utizmon/server.token" ] || die "purging the edge removed the server's token"

log "dpkg -r utizmon-server, then --purge"
mkdir -p "$R/var/lib/utizmon" && echo history >"$R/var/lib/utizmon/history.db"
in_root dpkg -r utizmon-server >"$WORK/remove.log" 2>&1 || { cat "$WORK/remove.log"; die "dpkg -r failed"; }
[ -e "$R/etc/utizmon/server.env" ] || die "dpkg -r removed the configuration (only purge may)"
in_root dpkg --purge utizmon-server >"$WORK/purge2.log" 2>&1 || { cat "$WORK/purge2.log"; die "purge of utizmon-server failed"; }
in_root getent passwd utizmon >/dev/null && die "the utizmon account survived the last purge"
in_root getent group utizmon >/dev/null && die "the utizmon group survived the last purge"
snapshot >"$WORK/after"
if ! diff -u "$WORK/before" "$WORK/after" >"$WORK/diff"; then
  cat "$WORK/diff" >&2
  die "purging both packages left the filesystem different from before"
fi
log "purged: no file, unit link, account, token or history left (file lists identical)"
log "passed"
