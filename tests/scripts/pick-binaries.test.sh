#!/usr/bin/env bash
# scripts/pick-binaries.sh (`make run`'s choice of binaries): on a PATH without cargo and
# Ansible, and with a fake `uname` saying Windows (Git Bash) or macOS, it never picks
# binaries built for the wrong system, takes a verified dist/ release or a release URL,
# builds with cargo only on Linux x86_64, and says what it does and why.
. "$(dirname "$0")/lib.sh"

# A PATH with only the basic tools the script needs (no cargo, no ansible, no vagrant), and
# a fake uname answering from $FAKE_OS / $FAKE_ARCH.
TOOLS=$SCRATCH/tools
mkdir -p "$TOOLS"
for t in bash sh env cat cut tr od awk sed sort tail head find basename dirname mkdir rm tar gzip sha256sum chmod cp mv ls grep; do
  ln -s "$(type -P "$t")" "$TOOLS/$t"
done
cat >"$TOOLS/uname" <<'U'
#!/bin/sh
case "$1" in -s) echo "${FAKE_OS:-Linux}" ;; -m) echo "${FAKE_ARCH:-x86_64}" ;; *) echo "${FAKE_OS:-Linux}" ;; esac
U
# a fake cargo that "builds" by writing Linux x86_64 ELF binaries (copies of `true`)
mkdir -p "$SCRATCH/cargo-bin"
cat >"$SCRATCH/cargo-bin/cargo" <<U
#!/bin/sh
echo "fake cargo \$*" >>"\$UTIZMON_REPO/cargo.calls"
mkdir -p target/release && cp "$(type -P true)" target/release/utizmon-server && cp "$(type -P true)" target/release/utizmon-edge
U
chmod +x "$TOOLS/uname" "$SCRATCH/cargo-bin/cargo"

# a fresh "checkout" per case; pick OS ARCH [with-cargo] runs the script there
REPO=
new_repo() { REPO=$SCRATCH/repo-$1; mkdir -p "$REPO"; }
pick() {
  local path=$TOOLS
  [ "${3:-}" = with-cargo ] && path=$SCRATCH/cargo-bin:$TOOLS
  (cd "$REPO" && env -i PATH="$path" HOME="$SCRATCH" FAKE_OS="$1" FAKE_ARCH="$2" UTIZMON_REPO="$REPO" \
    UTIZMON_RELEASE_URL="${RELEASE_URL:-}" UTIZMON_BUILD_IN_VM="${BUILD_IN_VM:-}" \
    bash "$ROOT/scripts/pick-binaries.sh" 2>"$REPO/stderr")
}
err() { cat "$REPO/stderr"; }
# a release in $REPO/dist as `make dist` makes it (the tarball part)
make_release() {
  local name=utizmon-$1-x86_64-linux
  mkdir -p "$SCRATCH/rel/$name/bin" "$REPO/dist"
  cp "$(type -P true)" "$SCRATCH/rel/$name/bin/utizmon-server"
  cp "${2:-$(type -P true)}" "$SCRATCH/rel/$name/bin/utizmon-edge"
  tar -czf "$REPO/dist/$name.tar.gz" -C "$SCRATCH/rel" "$name"
  (cd "$REPO/dist" && sha256sum "$name.tar.gz" >>SHA256SUMS)
  rm -rf "${SCRATCH:?}/rel"
}

CASE="guard: the test PATH really has no cargo, ansible or vagrant"
for t in cargo ansible-playbook vagrant; do
  env -i PATH="$TOOLS" bash -c "command -v $t" >/dev/null && fail "$t is on the test PATH"
done
ok

CASE="Linux x86_64 with cargo: builds, deploys target/release"
new_repo build
out=$(pick Linux x86_64 with-cargo) || fail "failed: $(err)"
assert_eq "binary_dir target/release" "$out"
assert_contains "$(cat "$REPO/cargo.calls")" "build --release --locked -p utizmon-server -p utizmon-edge"
assert_contains "$(err)" "building: cargo build --release --locked -p utizmon-server -p utizmon-edge (this host is Linux x86_64"
ok

CASE="Windows (Git Bash) with cargo and .exe files in target/release: no build, no .exe deployed"
new_repo win
mkdir -p "$REPO/target/release"
printf 'MZ\x90\x00 windows' >"$REPO/target/release/utizmon-server.exe"
printf 'MZ\x90\x00 windows' >"$REPO/target/release/utizmon-server"
printf 'MZ\x90\x00 windows' >"$REPO/target/release/utizmon-edge"
out=$(pick MINGW64_NT-10.0-19045 x86_64 with-cargo) && fail "expected a refusal, got: $out"
[ ! -e "$REPO/cargo.calls" ] || fail "cargo was run on a Windows host"
assert_contains "$(err)" "not building with cargo: this host is MINGW64_NT-10.0-19045/x86_64"
assert_contains "$(err)" "not deploying target/release: target/release/utizmon-server is a Windows (PE) binary"
assert_contains "$(err)" "error: no Linux x86_64 utizmon binaries to deploy"
assert_contains "$(err)" "UTIZMON_RELEASE_URL="
ok

CASE="Windows without cargo, a verified release in dist/: deploys it"
new_repo win-dist
make_release 0.1.0
out=$(pick MINGW64_NT-10.0-19045 x86_64) || fail "failed: $(err)"
assert_eq "binary_dir dist/unpacked/utizmon-0.1.0-x86_64-linux/bin" "$out"
[ -x "$REPO/dist/unpacked/utizmon-0.1.0-x86_64-linux/bin/utizmon-edge" ] || fail "the release was not unpacked"
assert_contains "$(err)" "not building: no cargo on this host (MINGW64_NT-10.0-19045/x86_64)"
assert_contains "$(err)" "deploying the release dist/utizmon-0.1.0-x86_64-linux.tar.gz (checksum verified)"
ok

CASE="macOS with cargo: never builds Mach-O binaries; the newest dist/ release wins"
new_repo mac
make_release 0.9.0
make_release 0.10.0
out=$(pick Darwin arm64 with-cargo) || fail "failed: $(err)"
assert_eq "binary_dir dist/unpacked/utizmon-0.10.0-x86_64-linux/bin" "$out"
[ ! -e "$REPO/cargo.calls" ] || fail "cargo was run on macOS"
assert_contains "$(err)" "this host is Darwin/arm64, and cargo would build for it"
ok

CASE="a dist/ release that does not match SHA256SUMS is refused"
new_repo tampered
make_release 0.1.0
echo tampered >>"$REPO/dist/utizmon-0.1.0-x86_64-linux.tar.gz"
out=$(pick Darwin x86_64) && fail "expected a refusal, got: $out"
assert_contains "$(err)" "does not match dist/SHA256SUMS"
[ ! -d "$REPO/dist/unpacked" ] || fail "a tampered release was unpacked"
ok

CASE="a dist/ release without SHA256SUMS is refused"
new_repo unsigned
make_release 0.1.0
rm "$REPO/dist/SHA256SUMS"
out=$(pick Linux x86_64) && fail "expected a refusal, got: $out"
assert_contains "$(err)" "refusing to deploy an unverified release"
ok

CASE="a dist/ release with a macOS binary inside is refused"
new_repo wrong-inside
printf '\xcf\xfa\xed\xfe mach-o' >"$SCRATCH/macho"
make_release 0.1.0 "$SCRATCH/macho"
out=$(pick Linux x86_64) && fail "expected a refusal, got: $out"
assert_contains "$(err)" "utizmon-edge is a macOS (Mach-O) binary"
ok

CASE="UTIZMON_RELEASE_URL wins over cargo and dist/, nothing is built"
new_repo url
make_release 0.1.0
out=$(RELEASE_URL=http://192.168.56.1:8000/utizmon-0.1.0-x86_64-linux.tar.gz pick Linux x86_64 with-cargo) || fail "failed: $(err)"
assert_eq "release_url http://192.168.56.1:8000/utizmon-0.1.0-x86_64-linux.tar.gz" "$out"
[ ! -e "$REPO/cargo.calls" ] || fail "cargo was run although a release URL was given"
assert_contains "$(err)" "the roles download it and check it against the SHA256SUMS"
out=$(RELEASE_URL=ftp://x/y.tar.gz pick Linux x86_64) && fail "expected a refusal, got: $out"
assert_contains "$(err)" "is not an http(s) URL"
ok

CASE="Linux without cargo: prebuilt Linux binaries copied into target/release are used"
new_repo prebuilt
mkdir -p "$REPO/target/release"
cp "$(type -P true)" "$REPO/target/release/utizmon-server"
cp "$(type -P true)" "$REPO/target/release/utizmon-edge"
out=$(pick Linux x86_64) || fail "failed: $(err)"
assert_eq "binary_dir target/release" "$out"
assert_contains "$(err)" "deploying the prebuilt Linux x86_64 binaries in target/release"
ok

CASE="Linux aarch64 with cargo: no build (the VMs are x86_64)"
new_repo arm
out=$(pick Linux aarch64 with-cargo) && fail "expected a refusal, got: $out"
[ ! -e "$REPO/cargo.calls" ] || fail "cargo was run on an aarch64 host"
assert_contains "$(err)" "this host is Linux/aarch64"
ok

CASE="UTIZMON_BUILD_IN_VM=1 without vagrant: the opt-in path is taken and fails clearly"
new_repo vm
out=$(BUILD_IN_VM=1 pick Darwin arm64) && fail "expected a failure, got: $out"
assert_contains "$(err)" "building inside the master VM (UTIZMON_BUILD_IN_VM=1)"
assert_contains "$(err)" "build-in-vm: error: vagrant is not installed"
ok

done_tests
