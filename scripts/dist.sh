#!/usr/bin/env bash
# scripts/dist.sh - the release artefacts behind `make dist`, from the binaries `make release`
# built in target/release (or UTIZMON_BINARY_DIR):
#   dist/utizmon-VERSION-x86_64-linux.tar.gz   bin/, systemd/ units, etc/ env files, docs/
#   dist/utizmon-server_VERSION-1_amd64.deb    /usr/bin binary, unit, /etc/utizmon/server.env,
#   dist/utizmon-edge_VERSION-1_amd64.deb      system user, token, systemctl integration
#   dist/SHA256SUMS                            `sha256sum -c` format, for every file above
# The units are the Ansible roles' own templates rendered with their default paths
# (scripts/render-unit.py). Output is reproducible: timestamps are the last commit's
# (SOURCE_DATE_EPOCH), owners root, entries sorted.
# Environment: DIST_DIR (default dist/), UTIZMON_BINARY_DIR (default target/release).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=scripts/lib/binaries.sh
. "$ROOT/scripts/lib/binaries.sh"
cd "$ROOT"

die() { echo "dist: error: $*" >&2; exit 1; }
BIN_DIR=${UTIZMON_BINARY_DIR:-$ROOT/target/release}
DIST_DIR=${DIST_DIR:-$ROOT/dist}
why=$(deployable_dir "$BIN_DIR") ||
  die "$why; the release artefacts are Linux x86_64: build them on such a host with 'make release'"
for t in dpkg-deb sha256sum objdump python3 gzip tar; do
  command -v "$t" >/dev/null 2>&1 || die "$t is missing (Debian: apt-get install dpkg-dev binutils python3-jinja2)"
done
python3 -c 'import jinja2' 2>/dev/null || die "python3-jinja2 is missing (it comes with ansible)"

VERSION=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"$/\1/p' Cargo.toml)
[ -n "$VERSION" ] || die "no version in Cargo.toml's [workspace.package]"
DEB_REVISION=1
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$DIST_DIR"
rm -f "$DIST_DIR"/utizmon-*.tar.gz "$DIST_DIR"/utizmon-*.deb "$DIST_DIR/SHA256SUMS"

# deterministic tar.gz of DIR's entry NAME
pack() {
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    -C "$1" -cf - "$2" | gzip -9n >"$3"
}

# ---------------------------------------------------------------------------- tarball
TARNAME=utizmon-$VERSION-x86_64-linux
T=$STAGE/$TARNAME
mkdir -p "$T/bin" "$T/systemd" "$T/etc" "$T/docs"
for b in "${UTIZMON_BINARIES[@]}"; do install -m 0755 "$BIN_DIR/$b" "$T/bin/$b"; done
for kind in server edge; do
  # by hand, a tarball install puts the binaries where the roles do
  python3 scripts/render-unit.py "$kind" "/usr/local/bin/utizmon-$kind" >"$T/systemd/utizmon-$kind.service"
  install -m 0644 "packaging/$kind.env" "$T/etc/$kind.env"
done
install -m 0644 README.md ARCHITECTURE.md "$T/docs/"
install -m 0644 docs/*.md "$T/docs/"
cat >"$T/INSTALL" <<TXT
utizmon $VERSION for Linux x86_64 (systemd). Debian/Ubuntu: prefer the .deb packages.
By hand, as root:
  install -m 0755 bin/utizmon-server bin/utizmon-edge /usr/local/bin/
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin utizmon
  install -d -m 0750 -g utizmon /etc/utizmon && install -m 0640 -g utizmon etc/*.env /etc/utizmon/
  install -m 0644 systemd/*.service /etc/systemd/system/ && systemctl daemon-reload
  systemctl enable --now utizmon-server     # on the master; utizmon-edge on every host
The edge starts once /etc/utizmon/edge.token holds the master's token. docs/deploy.md: Ansible.
TXT
pack "$STAGE" "$TARNAME" "$DIST_DIR/$TARNAME.tar.gz"

# ---------------------------------------------------------------------------- .deb
# Depends: from the binary's dynamic section (libc6 at the newest GLIBC_ symbol version used).
deb_depends() {
  local bin=$1 glibc deps
  glibc=$(objdump -T "$bin" | grep -oE 'GLIBC_[0-9]+\.[0-9]+(\.[0-9]+)?' | sed 's/GLIBC_//' | sort -uV | tail -1)
  deps="libc6 (>= ${glibc:-2.34})"
  objdump -p "$bin" | grep -q 'NEEDED *libgcc_s' && deps="$deps, libgcc-s1"
  echo "$deps"
}

build_deb() {
  local kind=$1 pkg=utizmon-$1 other d s
  [ "$kind" = server ] && other=utizmon-edge || other=utizmon-server
  d=$STAGE/deb-$kind
  install -d "$d/DEBIAN" "$d/usr/bin" "$d/lib/systemd/system" "$d/etc/utizmon" "$d/usr/share/doc/$pkg"
  install -m 0755 "$BIN_DIR/$pkg" "$d/usr/bin/$pkg"
  python3 scripts/render-unit.py "$kind" "/usr/bin/$pkg" --package >"$d/lib/systemd/system/$pkg.service"
  chmod 0644 "$d/lib/systemd/system/$pkg.service"
  install -m 0644 "packaging/$kind.env" "$d/etc/utizmon/$kind.env"
  printf 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nUpstream-Name: utizmon\n\nFiles: *\nCopyright: %s utizmon team\nLicense: MIT\n' "$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y)" \
    >"$d/usr/share/doc/$pkg/copyright"
  printf '%s (%s-%s) unstable; urgency=medium\n\n  * Release %s (make dist).\n\n -- utizmon team <utizmon@example.invalid>  %s\n' \
    "$pkg" "$VERSION" "$DEB_REVISION" "$VERSION" "$(date -u -R -d "@$SOURCE_DATE_EPOCH")" |
    gzip -9n >"$d/usr/share/doc/$pkg/changelog.Debian.gz"
  echo "/etc/utizmon/$kind.env" >"$d/DEBIAN/conffiles"
  if [ "$kind" = server ]; then
    # The alert-rules YAML parser (unsafe-libyaml, under serde_yaml_ng) is a line-by-line
    # Rust translation of libyaml compiled into the binary: there is no C library to link
    # against instead, so lintian's embedded-library check is answered here, not hidden.
    install -d "$d/usr/share/lintian/overrides"
    printf '# libyaml translated to Rust (unsafe-libyaml), statically part of the binary\n%s: embedded-library libyaml [usr/bin/%s]\n' \
      "$pkg" "$pkg" >"$d/usr/share/lintian/overrides/$pkg"
    chmod 0644 "$d/usr/share/lintian/overrides/$pkg"
  fi
  local token_setup purge_files purge_dirs purge_what
  if [ "$kind" = server ]; then
    token_setup='if [ ! -s /etc/utizmon/server.token ]; then (umask 0027; tr -dc A-Za-z0-9 </dev/urandom | head -c 48 >/etc/utizmon/server.token); fi; chown root:utizmon /etc/utizmon/server.token; chmod 0640 /etc/utizmon/server.token'
    purge_files=/etc/utizmon/server.token
    purge_dirs='rm -rf /var/lib/utizmon'
    purge_what='the history in /var/lib/utizmon'
  else
    # on a host that is also the master, the edge uses the master's own token
    token_setup='if [ ! -e /etc/utizmon/edge.token ] && [ -s /etc/utizmon/server.token ]; then cp /etc/utizmon/server.token /etc/utizmon/edge.token; fi; if [ -e /etc/utizmon/edge.token ]; then chown root:utizmon /etc/utizmon/edge.token; chmod 0640 /etc/utizmon/edge.token; fi'
    purge_files=/etc/utizmon/edge.token
    purge_dirs='rm -rf /var/lib/utizmon-edge'
    purge_what='the disk buffer in /var/lib/utizmon-edge'
  fi
  # @NAME@ placeholders from SUB_NAME variables (python: the snippets contain | and &)
  for s in postinst prerm postrm; do
    SUB_PKG=$pkg SUB_SVC=$pkg SUB_KIND=$kind SUB_OTHER=$other SUB_TOKEN_SETUP=$token_setup \
      SUB_PURGE_FILES=$purge_files SUB_PURGE_DIRS=$purge_dirs SUB_PURGE_WHAT=$purge_what \
      python3 -c 'import os, re, sys
text = open(sys.argv[1]).read()
open(sys.argv[2], "w").write(re.sub(r"@([A-Z_]+)@", lambda m: os.environ["SUB_" + m.group(1)], text))' \
      "packaging/debian/$s" "$d/DEBIAN/$s"
    chmod 0755 "$d/DEBIAN/$s"
  done
  local desc
  [ "$kind" = server ] && desc="utizmon master: live dashboard, edge ingest, history, /metrics
 utizmon-server receives one sample per second from every utizmon-edge over
 WebSocket, shows them live on a web dashboard (port 5000), keeps a SQLite
 history in /var/lib/utizmon and exports Prometheus metrics on /metrics." ||
    desc="utizmon edge agent: streams this host's metrics to the master
 utizmon-edge samples CPU, memory, disks and network once per second and
 pushes the samples to a utizmon-server over WebSocket, buffering them while
 the master is unreachable. Set the master and its token in /etc/utizmon."
  cat >"$d/DEBIAN/control" <<CTL
Package: $pkg
Version: $VERSION-$DEB_REVISION
Architecture: amd64
Maintainer: utizmon team <utizmon@example.invalid>
Installed-Size: $(du -sk --exclude=DEBIAN "$d" | cut -f1)
Depends: $(deb_depends "$BIN_DIR/$pkg"), passwd
Section: admin
Priority: optional
Description: $desc
CTL
  (cd "$d" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | sort -z | xargs -0 md5sum >DEBIAN/md5sums)
  find "$d" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
  dpkg-deb --root-owner-group -Zxz --build "$d" "$DIST_DIR/${pkg}_$VERSION-${DEB_REVISION}_amd64.deb" >/dev/null
}
build_deb server
build_deb edge

(cd "$DIST_DIR" && sha256sum -- utizmon-*.tar.gz utizmon-*.deb >SHA256SUMS)
echo "dist: utizmon $VERSION in $DIST_DIR:"
(cd "$DIST_DIR" && ls -l -- utizmon-* SHA256SUMS | awk '{printf "  %-44s %9d bytes\n", $9, $5}')
