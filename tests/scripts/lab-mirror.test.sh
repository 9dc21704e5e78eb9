#!/usr/bin/env bash
# deploy/lab.sh takes its Debian mirror only from the machine's apt configuration (one-line
# .list files and deb822 .sources), and says so clearly when there is none.
. "$(dirname "$0")/lib.sh"

# mirror_of: runs `deploy/lab.sh mirror` against the apt directory $SCRATCH/$1
mirror_of() { UTIZMON_LAB_APT_DIR=$SCRATCH/$1 bash "$ROOT/deploy/lab.sh" mirror 2>&1; }
apt_dir() { mkdir -p "$SCRATCH/$1/sources.list.d"; }

CASE="one-line sources.list, options and comments skipped"
apt_dir a
cat >"$SCRATCH/a/sources.list" <<'S'
# deb http://commented.invalid/debian bookworm main
deb-src http://src.invalid/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://mirror-a.invalid/debian/ bookworm main
deb http://mirror-b.invalid/debian bookworm main
S
assert_eq "http://mirror-a.invalid/debian" "$(mirror_of a)"
ok

CASE="sources.list.d/*.list when sources.list has none"
apt_dir b
printf 'deb http://thirdparty.invalid/apt stable main\n' >"$SCRATCH/b/sources.list.d/0-vendor.list"
printf 'deb https://mirror-c.invalid/pub/debian bookworm main\n' >"$SCRATCH/b/sources.list.d/debian.list"
assert_eq "https://mirror-c.invalid/pub/debian" "$(mirror_of b)"
ok

CASE="deb822 .sources: disabled and deb-src stanzas and security URIs skipped"
apt_dir c
cat >"$SCRATCH/c/sources.list.d/debian.sources" <<'S'
Types: deb
URIs: http://disabled.invalid/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb-src
URIs: http://src.invalid/debian
Suites: bookworm
Components: main

Types: deb
URIs: http://mirror-d.invalid/debian-security
Suites: bookworm-security
Components: main

# the archive
Types: deb
URIs: http://mirror-d.invalid/debian
Suites: bookworm bookworm-updates
Components: main
S
assert_eq "http://mirror-d.invalid/debian" "$(mirror_of c)"
ok

CASE="no apt configuration: clear error, no built-in address"
apt_dir d
out=$(mirror_of d) && fail "expected a failure, got: $out"
assert_contains "$out" "no Debian mirror in this machine's apt configuration"
assert_not_contains "$out" "http"
ok

CASE="only non-Debian sources: same clear error"
apt_dir e
printf 'deb http://thirdparty.invalid/apt stable main\n' >"$SCRATCH/e/sources.list"
printf 'Types: deb\nURIs: https://vendor.invalid/node\nSuites: nodistro\n' >"$SCRATCH/e/sources.list.d/node.sources"
out=$(mirror_of e) && fail "expected a failure, got: $out"
assert_contains "$out" "no Debian mirror"
ok

done_tests
