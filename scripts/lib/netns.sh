#!/usr/bin/env bash
# scripts/lib/netns.sh - sourced by deploy/lab.sh and deploy/vagrant-lab.sh: the last step of
# their teardown. Everything in a test's own network namespace was started by that test, so
# what is still running there is stopped (by PID), then the namespace is deleted.

# netns_teardown NS: kills the processes left in NS, waits up to 5 s for them, deletes NS.
netns_teardown() {
  local ns=$1 pid i
  ip netns list 2>/dev/null | awk '{print $1}' | grep -qx "$ns" || return 0
  for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  for i in $(seq 1 50); do
    [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break
    sleep 0.1
  done
  ip netns del "$ns"
}
