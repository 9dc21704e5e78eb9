#!/usr/bin/env bash
# tests/scripts/vagrantfile.test.sh - the Vagrantfile's checks of UTIZMON_VARS (the operator's
# own variables for site.yml): a missing file, and for ansible_local a file the master would
# never receive, stop `vagrant` with a message naming the variable; a usable file validates.
# `vagrant validate` only (no VM, no provider), in a scratch copy of the checkout's top level.
. "$(dirname "$0")/lib.sh"

if ! command -v vagrant >/dev/null 2>&1; then
  echo "vagrantfile.test.sh: skipped, vagrant is not installed (make deps installs it)"
  exit 0
fi

W=$SCRATCH/checkout
mkdir -p "$W/.secrets" "$W/deploy"
cp "$ROOT/Vagrantfile" "$ROOT/site.yml" "$ROOT/ansible.cfg" "$W/"
echo 'utizmon_server_raw_retention: 7days' >"$W/my-vars.yml"
cp "$W/my-vars.yml" "$W/.secrets/vars.yml"
cp "$W/my-vars.yml" "$SCRATCH/outside.yml"

# validate PROVISIONER VARS: prints vagrant's output, returns its status
validate() {
  (cd "$W" && env VAGRANT_HOME="$SCRATCH/vagrant-home" VAGRANT_CHECKPOINT_DISABLE=1 \
    UTIZMON_PROVISIONER="$1" UTIZMON_VARS="$2" vagrant validate --ignore-provider 2>&1)
}

CASE="UTIZMON_VARS naming a missing file: refused, the variable and the file named"
out=$(validate ansible nope.yml) && fail "validated: $out"
assert_contains "$out" 'UTIZMON_VARS="nope.yml": no such file'
ok

CASE="ansible: a variables file anywhere on the host is fine"
out=$(validate ansible "$SCRATCH/outside.yml") || fail "refused: $out"
ok

CASE="ansible_local: a variables file inside the checkout is fine"
out=$(validate ansible_local my-vars.yml) || fail "refused: $out"
ok

CASE="ansible_local: a file outside the checkout never reaches the master: refused"
out=$(validate ansible_local "$SCRATCH/outside.yml") && fail "validated: $out"
assert_contains "$out" "with ansible_local the file must be inside this checkout"
ok

CASE="ansible_local: a file under .secrets/ (not synced) is refused too"
out=$(validate ansible_local .secrets/vars.yml) && fail "validated: $out"
assert_contains "$out" "outside .git/, .vm-lab/, .secrets/"
ok

done_tests
