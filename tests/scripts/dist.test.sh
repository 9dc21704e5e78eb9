#!/usr/bin/env bash
# scripts/dist.sh (`make dist`): the tarball, both .debs and SHA256SUMS have the promised
# contents and metadata, two builds are byte-identical, and binaries
# that are not Linux x86_64 are refused. Stand-in binaries (a copy of a system ELF
# executable) keep it fast; `make test-dist` runs lintian and installs and purges the real
# packages.
. "$(dirname "$0")/lib.sh"
command -v dpkg-deb >/dev/null || { echo "dist.test.sh: skipped (no dpkg-deb on this host)"; exit 0; }

bin=$SCRATCH/bin
mkdir -p "$bin"
for b in utizmon-server utizmon-edge; do cp "$(type -P true)" "$bin/$b"; done
dist() { UTIZMON_BINARY_DIR=$bin DIST_DIR=$SCRATCH/$1 bash "$ROOT/scripts/dist.sh"; }
version=$(sed -n '/^\[workspace.package\]/,/^\[/ s/^version = "\(.*\)"$/\1/p' "$ROOT/Cargo.toml")

CASE="make dist writes a versioned tarball, two .debs and SHA256SUMS"
out=$(dist d1)
assert_contains "$out" "utizmon $version"
(cd "$SCRATCH/d1" && ls) >"$SCRATCH/ls"
assert_eq "SHA256SUMS
utizmon-$version-x86_64-linux.tar.gz
utizmon-edge_$version-1_amd64.deb
utizmon-server_$version-1_amd64.deb" "$(cat "$SCRATCH/ls")"
(cd "$SCRATCH/d1" && sha256sum -c --quiet SHA256SUMS) || fail "SHA256SUMS does not verify"
assert_eq 3 "$(wc -l <"$SCRATCH/d1/SHA256SUMS" | tr -d ' ')"
ok

CASE="tarball: binaries, the roles' units, env files, docs"
tarlist=$(tar -tzf "$SCRATCH/d1/utizmon-$version-x86_64-linux.tar.gz")
for f in bin/utizmon-server bin/utizmon-edge systemd/utizmon-server.service systemd/utizmon-edge.service \
  etc/server.env etc/edge.env docs/deploy.md docs/README.md INSTALL; do
  assert_contains "$tarlist" "utizmon-$version-x86_64-linux/$f"
done
tar -xzf "$SCRATCH/d1/utizmon-$version-x86_64-linux.tar.gz" -C "$SCRATCH"
unit=$(cat "$SCRATCH/utizmon-$version-x86_64-linux/systemd/utizmon-server.service")
assert_contains "$unit" "ExecStart=/usr/local/bin/utizmon-server"
assert_contains "$unit" "EnvironmentFile=/etc/utizmon/server.env"
assert_contains "$unit" "CapabilityBoundingSet="
assert_contains "$unit" "LimitNOFILE=65536"
ok

for kind in server edge; do
  deb=$SCRATCH/d1/utizmon-${kind}_$version-1_amd64.deb
  CASE="utizmon-$kind.deb: control fields, conffile, maintainer scripts"
  info=$(dpkg-deb --info "$deb")
  assert_contains "$info" "Package: utizmon-$kind"
  assert_contains "$info" "Version: $version-1"
  assert_contains "$info" "Architecture: amd64"
  assert_contains "$info" "Depends: libc6 (>= "
  assert_eq "/etc/utizmon/$kind.env" "$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)"
  for s in postinst prerm postrm; do
    dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - "./$s" >"$SCRATCH/$s"
    sh -n "$SCRATCH/$s" || fail "$s is not valid sh"
    ! grep -q '@[A-Z_]*@' "$SCRATCH/$s" || fail "$s has an unsubstituted placeholder: $(grep '@[A-Z_]*@' "$SCRATCH/$s")"
  done
  assert_contains "$(cat "$SCRATCH/postinst")" "useradd --system"
  assert_contains "$(cat "$SCRATCH/postinst")" "deb-systemd-helper enable utizmon-$kind.service"
  assert_contains "$(cat "$SCRATCH/prerm")" "deb-systemd-invoke stop utizmon-$kind.service"
  assert_contains "$(cat "$SCRATCH/postrm")" "deb-systemd-helper purge utizmon-$kind.service"
  assert_contains "$(cat "$SCRATCH/postrm")" "userdel utizmon"
  ok

  CASE="utizmon-$kind.deb: files, owners, modes"
  contents=$(dpkg-deb --contents "$deb")
  assert_contains "$contents" "-rwxr-xr-x root/root"
  for f in "./usr/bin/utizmon-$kind" "./lib/systemd/system/utizmon-$kind.service" "./etc/utizmon/$kind.env" \
    "./usr/share/doc/utizmon-$kind/copyright" "./usr/share/doc/utizmon-$kind/changelog.Debian.gz"; do
    assert_contains "$contents" "$f"
  done
  unit=$(dpkg-deb --fsys-tarfile "$deb" | tar -xOf - "./lib/systemd/system/utizmon-$kind.service")
  assert_contains "$unit" "ExecStart=/usr/bin/utizmon-$kind"
  assert_contains "$unit" "User=utizmon"
  ok
done

CASE="the packaged edge waits for its token; the server's does not"
assert_contains "$(dpkg-deb --fsys-tarfile "$SCRATCH/d1/utizmon-edge_$version-1_amd64.deb" | tar -xOf - ./lib/systemd/system/utizmon-edge.service)" \
  "ConditionPathExists=/etc/utizmon/edge.token"
assert_not_contains "$(dpkg-deb --fsys-tarfile "$SCRATCH/d1/utizmon-server_$version-1_amd64.deb" | tar -xOf - ./lib/systemd/system/utizmon-server.service)" \
  "ConditionPathExists"
ok

CASE="two builds are byte-identical (SOURCE_DATE_EPOCH, sorted, root-owned)"
dist d2 >/dev/null
assert_eq "$(cat "$SCRATCH/d1/SHA256SUMS")" "$(cat "$SCRATCH/d2/SHA256SUMS")"
ok

CASE="binaries that are not Linux x86_64 are refused, with the reason"
printf '\xcf\xfa\xed\xfe rest of a mach-o' >"$bin/utizmon-edge"
out=$(dist d3 2>&1) && fail "expected a failure, got: $out"
assert_contains "$out" "utizmon-edge is a macOS (Mach-O) binary, not a Linux x86_64 executable"
printf 'MZ\x90\x00 a windows exe' >"$bin/utizmon-edge"
out=$(dist d3 2>&1) && fail "expected a failure, got: $out"
assert_contains "$out" "a Windows (PE) binary"
[ ! -e "$SCRATCH/d3/SHA256SUMS" ] || fail "a refused build must not write SHA256SUMS"
ok

done_tests
