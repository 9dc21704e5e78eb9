#!/usr/bin/env bash
# scripts/lib/deployed.sh - sourced by deploy/lab.sh (`make test-deploy`, QEMU VMs it boots
# itself) and deploy/vagrant-lab.sh (`make test-vagrant`, the user's Vagrant commands): what
# an operator checks on a fresh deployment of site.yml, written once so that both VM tests
# hold the deployment to the same standard.
#
# The sourcing script provides:
#   log, die, now, timing     its logging helpers
#   nsx CMD...                runs CMD inside the test's network namespace
#   vm_ssh VM CMD...          runs CMD on a VM (as the login user, which has sudo); with
#                             VM_SSH_LIMIT set, the ssh is killed after that many seconds
#   vm_diagnose VM            (optional) prints what the test knows of a VM that does not
#                             answer: console, domain state, addresses
#   host_curl CURL-ARGS...    curl as the operator's host reaches the dashboard (through
#                             the test's forward of 127.0.0.1), with HOST_URL its base URL
# and sets RUN (scratch directory), SECRETS (the controller's secrets directory, which
# site.yml fills), MASTER_IP, EDGES (array of edge names) and BOOT_TIMEOUT (seconds).

# A curl config that logs in as admin (HTTP Basic) and verifies the master against the CA;
# the password goes through this 0600 file, not a command line.
login_conf() {
  local conf=$RUN/curl-login.conf
  if [ ! -s "$conf" ]; then
    (umask 077 && printf 'cacert = "%s"\nuser = "admin:%s"\n' "$SECRETS/ca.pem" "$(cat "$SECRETS/admin-password")" >"$conf")
  fi
  echo "$conf"
}
# GET https://master:5000$1 from inside the namespace, logged in.
api() { nsx curl -K "$(login_conf)" -fsS --max-time 5 "https://$MASTER_IP:5000$1"; }

# Prints "host seq connected run_id" for every host the server lists.
host_seqs() {
  api /api/v1/hosts | python3 -c '
import json, sys
for h in json.load(sys.stdin)["hosts"]:
    latest = h.get("latest") or {}
    run = (h.get("edge") or {}).get("run_id") or "-"
    print(h["host"], latest.get("seq", -1), str(h.get("connected")).lower(), run)'
}

# The run id (changes when the agent restarts) the server shows for host $1.
run_id_of() { host_seqs | awk -v h="$1" '$1==h {print $4}'; }

# Waits (bounded) until every edge is connected and its latest seq is beyond the one given
# in BEFORE (host_seqs lines; empty: any seq); prints the new host_seqs lines.
wait_streaming() {
  local before=$1 deadline=$(($(now) + ${2:-60})) e ok now_seqs
  while :; do
    now_seqs=$(host_seqs 2>/dev/null || true)
    ok=1
    for e in "${EDGES[@]}"; do
      local old new conn
      old=$(echo "$before" | awk -v h="$e" '$1==h {print $2}')
      new=$(echo "$now_seqs" | awk -v h="$e" '$1==h {print $2}')
      conn=$(echo "$now_seqs" | awk -v h="$e" '$1==h {print $3}')
      if [ "$conn" != true ] || [ -z "$new" ] || [ "$new" -le "${old:--1}" ]; then ok=0; fi
    done
    [ "$ok" = 1 ] && { echo "$now_seqs"; return 0; }
    [ "$(now)" -lt "$deadline" ] || { echo "$now_seqs" >&2; return 1; }
    sleep 2
  done
}

# Secrets on the controller are the owner's only; each edge has its own token (0600), the
# master only their hashes; the edges speak wss:// with the deployment CA pinned.
check_secrets() {
  local mode f e token
  mode=$(stat -c %a "$SECRETS")
  [ "$mode" = 700 ] || die "$SECRETS has mode $mode, not 700"
  while IFS= read -r f; do
    mode=$(stat -c %a "$f")
    [ "$mode" = 600 ] || die "$f has mode $mode, not 600"
  done < <(find "$SECRETS" -type f)
  [ "$(cat "$SECRETS/edge-tokens/${EDGES[0]}")" != "$(cat "$SECRETS/edge-tokens/${EDGES[1]}")" ] ||
    die "the edges share one token"
  for e in "${EDGES[@]}"; do
    token=$(cat "$SECRETS/edge-tokens/$e")
    # ssh joins its arguments into one command line: quote what has spaces
    [ "$(vm_ssh "$e" "sudo stat -c '%a %U' /etc/utizmon/edge.token")" = "600 utizmon" ] ||
      die "$e: /etc/utizmon/edge.token is not 0600 utizmon"
    [ "$(vm_ssh "$e" sudo cat /etc/utizmon/edge.token)" = "$token" ] || die "$e does not hold its own token"
    vm_ssh "$e" sudo grep -qx "UTIZMON_MASTER=wss://$MASTER_IP:5000/ws/edge" /etc/utizmon/edge.env ||
      die "$e does not connect with wss://"
    vm_ssh "$e" sudo grep -qx "UTIZMON_CA_FILE=/etc/utizmon/ca.pem" /etc/utizmon/edge.env || die "$e does not pin the CA"
    vm_ssh utizmon-master sudo grep -qx "'$(printf '%s' "$token" | sha256sum | cut -d' ' -f1) $e'" /etc/utizmon/edge-tokens ||
      die "the master's tokens file has no hash for $e"
    ! vm_ssh utizmon-master sudo grep -rqsF "$token" /etc/utizmon || die "the master holds $e's token in plain text"
  done
  log "secrets: 0700/0600 on the controller, one token per edge (0600 on the edge, hash only on the master), wss:// with the CA"
}

# systemd-analyze security's overall exposure of UNIT on VM: at most 2.0.
check_exposure() {
  local vm=$1 unit=$2 exposure
  exposure=$(vm_ssh "$vm" sudo systemd-analyze security --no-pager "$unit" 2>/dev/null |
    sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
  [ -n "$exposure" ] || die "$vm: no exposure level from systemd-analyze security $unit"
  awk -v x="$exposure" 'BEGIN { exit !(x <= 2.0) }' || die "$vm: $unit exposure $exposure is above 2.0"
  log "$vm: systemd-analyze security $unit: exposure $exposure"
  echo "$unit $exposure" >>"$RUN/exposure.txt"
}

# The whole operator's check of a fresh deployment: secrets, unit hardening, https with the
# deployment's CA from the host, nothing without a login, dashboard (and its own assets) and
# /metrics as admin with every edge connected, and every edge streaming.
check_deployed() {
  local first second e page metrics code asset
  check_secrets
  check_exposure utizmon-master utizmon-server.service
  check_exposure "${EDGES[0]}" utizmon-edge.service
  code=$(host_curl -sS --max-time 10 --cacert "$SECRETS/ca.pem" -o /dev/null -w '%{http_code}' "$HOST_URL/api/v1/hosts") ||
    die "$HOST_URL/ not reachable with the deployment CA"
  [ "$code" = 401 ] || die "/api/v1/hosts without a login answered $code, not 401"
  code=$(host_curl -sS --max-time 10 --cacert "$SECRETS/ca.pem" -u admin:wrong-password -o /dev/null -w '%{http_code}' "$HOST_URL/metrics") || true
  [ "$code" = 401 ] || die "/metrics with a wrong password answered $code, not 401"
  page=$(host_curl -K "$(login_conf)" -fsS --max-time 10 "$HOST_URL/") || die "dashboard / not reachable from the host as admin"
  echo "$page" | grep -qiE '<title>[^<]*utizmon' || die "dashboard / did not return the utizmon page"
  # the page's own assets are served too (embedded in the binary, no CDN)
  asset=$(echo "$page" | grep -oE '/static/[^"?]+' | head -1)
  [ -z "$asset" ] || host_curl -K "$(login_conf)" -fsS --max-time 10 -o /dev/null "$HOST_URL$asset" ||
    die "dashboard asset $asset not reachable from the host"
  metrics=$(host_curl -K "$(login_conf)" -fsS --max-time 10 "$HOST_URL/metrics") || die "/metrics not reachable from the host"
  for e in "${EDGES[@]}"; do
    echo "$metrics" | grep -qE "^utizmon_edge_connected\{[^}]*host=\"$e\"[^}]*\} 1(\.0)?$" ||
      die "/metrics does not show $e connected"
  done
  log "host $HOST_URL -> master: https, 401 without a login, dashboard and /metrics as admin, both edges connected"
  first=$(host_seqs) || die "/api/v1/hosts failed"
  second=$(wait_streaming "$first" 30) || die "edges are not streaming (before: $first)"
  log "edges stream: $(echo "$second" | tr '\n' ' ')"
}

# vm_probe: vm_ssh killed after VM_PROBE_LIMIT seconds, for a VM that may be going down. A
# probe that reaches the VM as it shuts down can be accepted by a per-connection sshd that
# outlives ssh.service; networkd then drops the DHCP address, and when that sshd exits
# (pam_nologin refuses the login) neither its FIN nor a RST can leave: the client waits for
# an answer that never comes, until TCP keepalive gives up after two hours. Seen in the
# Vagrant lab: one such probe hung while the VM was back in 2 minutes.
VM_PROBE_LIMIT=${VM_PROBE_LIMIT:-30}
vm_probe() { VM_SSH_LIMIT=$VM_PROBE_LIMIT vm_ssh "$@"; }

# Reboots edge $1 and checks that it comes back, its agent starts by itself, reconnects as a
# new run, and every edge streams again. Every probe is bounded (vm_probe). A reboot request
# that never ran (its ssh failed before the command, e.g. a login slower than ConnectTimeout
# under emulation) shows as the old boot id with the system still `running` rather than
# `stopping`: it is sent again (at most 3 requests). The wait says what the probes saw and,
# on a timeout, why, with the sourcing script's vm_diagnose when it has one.
check_reboot() {
  local e=$1 t0 boot_before boot_after run_before run_after s1 rc=0 out state=""
  local old=0 failed=0 killed=0 last="" report requests=0 requested
  boot_before=$(vm_probe "$e" cat /proc/sys/kernel/random/boot_id) || die "$e: no boot id before the reboot"
  run_before=$(run_id_of "$e")
  # logged in, the API shows run ids: the check below compares real ones
  [ -n "$run_before" ] && [ "$run_before" != - ] || die "the API shows no run id for $e to the admin"
  t0=$(now)
  report=$((t0 + 60))
  while :; do
    if [ "$requests" -eq 0 ] || { [ "$rc" -eq 0 ] && [ "$state" != stopping ] &&
      [ $(($(now) - requested)) -ge 30 ] && [ "$requests" -lt 3 ]; }; then
      [ "$requests" -eq 0 ] || log "$e: still up and '$state' $(($(now) - requested)) s after the reboot request: sending it again"
      # 255 is expected (the VM closes the connection as it goes down), 124 is a killed probe
      rc=0
      out=$(vm_probe "$e" sudo systemctl reboot 2>&1) || rc=$?
      requests=$((requests + 1))
      requested=$(now)
      log "$e: reboot requested (ssh exit $rc${out:+: $(echo "$out" | tail -1 | tr -d '\r')})"
    fi
    # wait until it is back with a new boot id (bounded)
    rc=0
    out=$(vm_probe "$e" 'cat /proc/sys/kernel/random/boot_id; systemctl is-system-running || true' 2>"$RUN/reboot-probe.err") || rc=$?
    boot_after=$(echo "$out" | sed -n 1p)
    state=$(echo "$out" | sed -n 2p)
    if [ "$rc" -eq 0 ] && [ -n "$boot_after" ] && [ "$boot_after" != "$boot_before" ]; then break; fi
    case "$rc" in
      0) old=$((old + 1)) last="answered with the old boot id, system '$state'" ;;
      124 | 137) killed=$((killed + 1)) last="probe killed after $VM_PROBE_LIMIT s" ;;
      *) failed=$((failed + 1)) last="ssh exit $rc: $(tail -1 "$RUN/reboot-probe.err" | tr -d '\r')" ;;
    esac
    if [ "$(now)" -ge "$report" ]; then
      log "$e: not back after $(($(now) - t0)) s (probes: $old old boot id, $failed failed, $killed killed; last: $last)"
      report=$((report + 60))
    fi
    if [ $(($(now) - t0)) -ge "$BOOT_TIMEOUT" ]; then
      if declare -F vm_diagnose >/dev/null; then vm_diagnose "$e" >&2 || true; fi
      if [ "$rc" -eq 0 ]; then
        die "$e did not reboot within $BOOT_TIMEOUT s after $requests request(s): it still answers with its old boot id, system '$state'"
      fi
      die "$e did not come back within $BOOT_TIMEOUT s (probes: $old old boot id, $failed failed, $killed killed; last: $last)"
    fi
    sleep 3
  done
  log "$e: booted again after $(($(now) - t0)) s (probes before: $old old boot id, $failed failed, $killed killed)"
  # sshd is up before network-online.target; the agent starts a little later, by itself
  while ! vm_probe "$e" systemctl is-active --quiet utizmon-edge 2>/dev/null; do
    [ $(($(now) - t0)) -lt "$BOOT_TIMEOUT" ] || die "utizmon-edge did not start on $e after the reboot"
    sleep 2
  done
  log "$e: utizmon-edge active again after $(($(now) - t0)) s"
  # it reconnects on its own; the new run starts again at a low seq, so wait for a new
  # connected run whose seq advances rather than comparing to the old run
  s1=$(wait_streaming "" 120) || die "$e did not reconnect after reboot"
  run_after=$(run_id_of "$e")
  if [ "$run_after" = - ] || [ "$run_after" = "$run_before" ]; then
    die "$e still shows run $run_before: the rebooted agent did not reconnect"
  fi
  wait_streaming "$s1" 30 >/dev/null || die "edges do not stream after $e rebooted"
  timing "edge reboot -> reconnected" $(($(now) - t0))
}

# The PLAY RECAP in LOG names every host in HOSTS... with changed=0, failed=0, unreachable=0.
assert_unchanged() {
  local out=$1 recap h
  shift
  recap=$(sed -n '/PLAY RECAP/,$p' "$out" | grep -E 'ok=[0-9]+')
  for h in "$@"; do
    echo "$recap" | grep -qE "$h +: ok=[1-9]" || die "$h is missing from the recap of $out: $recap"
  done
  if echo "$recap" | grep -qE 'changed=[1-9]|failed=[1-9]|unreachable=[1-9]'; then
    die "the second run is not idempotent ($out): $recap"
  fi
  log "second run: changed=0 on every host"
}

# The alert rules file that must be refused: valid YAML, a rule without its expression.
BROKEN_RULES_VARS='{"utizmon_server_alert_rules": "rules: [{alert: Broken}]\n"}'

# After a deploy with BROKEN_RULES_VARS failed (exit status RC, output in LOG): it failed on
# the master's own validation and said why, installed nothing, and the server kept running.
assert_rules_refused() {
  local rc=$1 out=$2
  [ "$rc" -ne 0 ] || die "a broken alert rules file did not fail the deploy (log: $out)"
  grep -q 'failed to validate' "$out" && grep -q 'missing field' "$out" ||
    die "the failed deploy does not say why the rules are wrong (log: $out)"
  vm_ssh utizmon-master sudo test ! -e /etc/utizmon/alert-rules.yml || die "the broken rules file was installed"
  vm_ssh utizmon-master systemctl is-active --quiet utizmon-server || die "utizmon-server stopped after the refused rules"
  log "a broken alert rules file fails the deploy with its reason; the server keeps running"
}
