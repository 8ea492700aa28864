#!/usr/bin/env bash
# What the scripts of scripts/k3s/ share: reading the env file, their messages, and the pinned installer
# with the checks around it. Sourced, never run: one copy of each so install.sh and upgrade.sh cannot
# drift apart on how a release is installed or how the config checksum is taken.
#
# Where it is: every remote command that runs one of these scripts also writes this file to
# /usr/local/lib/honeydue/k3s/lib.sh (components/k3s/scripts.py: lib_file(), added by script_command and by
# converge_files), so a script finds it there whether it runs from the command's temp file or from that
# directory (converge.sh). Scripts source "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh";
# HONEYDUE_ROOT (unset on nodes) prefixes every path, so tests install it into their throwaway root
# exactly as a node gets it.
#
# A script names itself and its env file (load_env '<name>.sh [%s]' <env path>): run from the remote
# command's temp file its $0 is a meaningless temp name, and every message starts with the script's name
# and the node's ([%s] takes NODE_NAME), so a failed step says where it failed.
#
# The scripts that source it already run with these; repeated so the library never runs without them.
set -euo pipefail

# Globals set here, read by the scripts: root (the HONEYDUE_ROOT prefix) and env_file.

# Read the env file at $2 (under HONEYDUE_ROOT). $1: the printf format of the messages' prefix.
load_env() {
    msg_format=$1
    root=${HONEYDUE_ROOT:-}
    env_file=$root$2
    [[ -r $env_file ]] || { echo "${1%% *}: $env_file is missing; the remote command writes it first" >&2; exit 1; }
    # Rendered by components/k3s/node.py (render_env): assignments only, every value shell-quoted.
    # shellcheck source=/dev/null
    . "$env_file"
}

# Read the env file of the agent a script on server 1 acts for, named by HONEYDUE_ENV_FILE (the remote
# command sets it). $1: as for load_env.
load_agent_env() {
    [[ -n ${HONEYDUE_ENV_FILE:-} ]] ||
        { echo "${1%% *}: HONEYDUE_ENV_FILE is not set; the remote command names the agent's env file" >&2; exit 1; }
    load_env "$1" "$HONEYDUE_ENV_FILE"
}

# The format is the calling script's own constant (load_env's $1); the node name is only an argument.
# shellcheck disable=SC2059
say() { printf "$msg_format: %s\n" "$NODE_NAME" "$*"; }
# shellcheck disable=SC2059
die() { printf "$msg_format: ERROR: %s\n" "$NODE_NAME" "$*" >&2; exit 1; }

# Every API request is bounded: kubectl's --request-timeout defaults to 0, "don't timeout requests"
# (kubectl options, https://kubernetes.io/docs/reference/kubectl/generated/kubectl_options/), and an API
# server whose etcd lost quorum accepts the connection and never answers. Every kubectl call of these
# scripts goes through kube(); drain and the wait loops bound the whole operation on top of it.
request_timeout=30s
# api_server: set by a script that runs outside the host's network namespace (reboot-check.sh, in kured's
# pod), where the kubeconfig's https://127.0.0.1:6443 is the pod's own loopback.
api_server=""
kube() {
    k3s kubectl "$@" ${api_server:+"--server=$api_server"} --request-timeout="$request_timeout"
}

# One mutating step at a time on a node: two runs of install/upgrade/converge/remove (a `pulumi up`
# cancelled while its step still runs on the node, then a second `up`; an operator by hand) must never
# restart or drain the node together. $1 names the lock: "node" for the node's own K3s, "agent-<name>"
# for the steps server 1 runs for an agent. flock(1) holds it on an open descriptor, so a killed holder
# releases it at once; the scripts converge.sh runs inherit the descriptor and the lock (honeydue_locked).
# Waits at most LOCK_TIMEOUT seconds, then fails naming the holder.
hold_lock() {
    local name=$1 dir=$root/run/lock/honeydue fd
    [[ ${honeydue_locked:-} != "$name" ]] || return 0
    mkdir -p "$dir"
    exec {fd}>>"$dir/$name.lock"
    if ! flock -n "$fd"; then
        say "waiting for the $name lock (held by: $(cat "$dir/$name.holder" 2>/dev/null || echo unknown))"
        flock -w "$LOCK_TIMEOUT" "$fd" ||
            die "another step still holds the $name lock after ${LOCK_TIMEOUT}s (held by: $(cat "$dir/$name.holder" 2>/dev/null || echo unknown)); nothing changed"
    fi
    printf '%s pid %s since %s\n' "${msg_format%% *}" "$$" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$dir/$name.holder"
    export honeydue_locked=$name
}

# Before a server drains or restarts itself: wait until every other etcd member's Node is Ready and not
# cordoned. The node lock keeps two steps apart on one node; this keeps them apart across servers (a
# step a cancelled `up` left running on server 2 while a new `up` converges server 1): three etcd
# members lose quorum with two down. K3s labels every etcd member node-role.kubernetes.io/etcd=true
# (pkg/util ETCDRoleLabelKey; its etcd controllers select the members by it). A cordoned peer is taken
# as a peer being upgraded (upgrade.sh cordons first). Waits at most LOCK_TIMEOUT seconds. Blind spot:
# a peer restart younger than the node monitor grace period (its Node still says Ready). When the
# local API does not answer, there is nothing to ask and the step goes on (its restart is the repair).
wait_etcd_peers() {
    local query='{range .items[*]}{.metadata.name}|{.spec.unschedulable}|{range .status.conditions[?(@.type=="Ready")]}{.status}{end}{"\n"}{end}'
    local deadline=$((SECONDS + LOCK_TIMEOUT)) out busy errors said=""
    errors=$(mktemp)
    while :; do
        if ! out=$(kube get nodes -l node-role.kubernetes.io/etcd=true -o jsonpath="$query" 2>"$errors"); then
            say "cannot list the etcd members ($(tail -n 1 "$errors")): going on without the check"
            break
        fi
        busy=$(awk -F'|' -v self="$NODE_NAME" '$1 != "" && $1 != self && ($2 == "true" || $3 != "True") {
            printf "%s%s (%s)", sep, $1, ($2 == "true" ? "cordoned" : "not Ready"); sep = ", " }' <<<"$out")
        [[ -n $busy ]] || break
        [[ -n $said ]] || say "waiting for the other etcd members: $busy"
        said=1
        if ((SECONDS >= deadline)); then
            rm -f "$errors"
            die "other etcd members are busy after ${LOCK_TIMEOUT}s: $busy; taking $NODE_NAME down too could cost etcd its quorum (wait for them, or uncordon a server cordoned by hand), nothing changed"
        fi
        sleep "$POLL_INTERVAL"
    done
    rm -f "$errors"
}

# kured's lock (components/k8s/kured.py): an annotation on kured's DaemonSet that kured takes before it
# drains and reboots a node, JSON {"nodeID", "metadata", "created", "TTL"} with the TTL in nanoseconds and
# 0 for "never expires" (kured 1.22.1 pkg/daemonsetlock: Acquire takes it only when it is absent, its own
# or past its TTL). A server's own steps that take it down (a config restart, an upgrade, its removal)
# take the same lock first, as "pulumi:<node>": kured never reboots a server while a step restarts
# another, and a step never restarts a server while kured drains or reboots another. The write carries
# the resourceVersion it read, so of two writers one gets a conflict and reads again. Ours expires after
# reboot_lock_ttl, the node-side time limit of every step (components/k3s/scripts.py STEP_TIME_LIMIT), so it
# outlives the step that holds it, and a step killed before on_exit released it (or a removed server, whose
# API is gone) holds kured back for that long at most. kured's lock holds one holder only with
# --concurrency=1 (pkg/daemonsetlock New: more takes the multi-lock format, which would read ours as free).
# Agents take no lock: they are no etcd member.
reboot_lock_annotation=weave.works/kured-node-lock
reboot_lock_ttl=5400
reboot_lock_taken=""

# "<resourceVersion> <holder or -> <expired yes|no>" of kured's lock; nothing when kured is not installed.
reboot_lock_state() {
    local out
    out=$(kube get daemonset kured -n kube-system --ignore-not-found \
        -o jsonpath='{.metadata.resourceVersion}{"\n"}{.metadata.annotations.weave\.works/kured-node-lock}') || return 1
    [[ -n $out ]] || return 0
    python3 - "$out" <<'PYTHON'
import datetime, json, re, sys
version, _, value = sys.argv[1].partition("\n")
if not value.strip():
    print(version, "-", "no")
    sys.exit()
try:
    lock = json.loads(value)
    holder, ttl, created = str(lock.get("nodeID") or "?"), int(lock.get("TTL") or 0), str(lock.get("created") or "")
    expired = "no"
    if ttl > 0 and created:
        # Go writes RFC 3339 with up to nine fractional digits; Python reads six.
        since = datetime.datetime.fromisoformat(re.sub(r"(\.\d{6})\d+", r"\1", created).replace("Z", "+00:00"))
        if datetime.datetime.now(datetime.timezone.utc) - since >= datetime.timedelta(microseconds=ttl // 1000):
            expired = "yes"
except Exception:  # anything unreadable is held and never expires: a person may have written it
    holder, expired = "an-unreadable-lock", "no"
print(version, re.sub(r"\s", "_", holder), expired)
PYTHON
}

# Take kured's lock (free, ours or expired), waiting at most LOCK_TIMEOUT seconds for its holder. When the
# API does not answer, or kured is not installed (the first `up`), there is nothing to take: go on.
take_reboot_lock() {
    [[ $ROLE != agent ]] || return 0
    local me="pulumi:$NODE_NAME" deadline=$((SECONDS + LOCK_TIMEOUT)) state version holder expired value errors said=""
    errors=$(mktemp)
    while :; do
        if ! state=$(reboot_lock_state 2>"$errors"); then
            say "cannot read kured's reboot lock ($(tail -n 1 "$errors")): going on without it"
            break
        fi
        if [[ -z $state ]]; then
            say "kured is not installed: no reboot lock to take"
            break
        fi
        read -r version holder expired <<<"$state"
        if [[ $holder == - || $holder == "$me" || $expired == yes ]]; then
            value=$(printf '{"nodeID":"%s","metadata":{"unschedulable":false},"created":"%s","TTL":%d}' \
                "$me" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$((reboot_lock_ttl * 1000000000))")
            if kube annotate daemonset kured -n kube-system --overwrite --resource-version="$version" \
                "$reboot_lock_annotation=$value" >/dev/null 2>"$errors"; then
                reboot_lock_taken=1
                say "took kured's reboot lock (expires after ${reboot_lock_ttl}s unless released)"
                break
            fi
            holder="a concurrent write ($(tail -n 1 "$errors"))"
        fi
        [[ -n $said ]] || say "waiting for kured's reboot lock, held by $holder"
        said=1
        if ((SECONDS >= deadline)); then
            rm -f "$errors"
            die "kured's reboot lock is still held by $holder after ${LOCK_TIMEOUT}s: a node is being drained or rebooted (kubectl -n kube-system get ds kured -o yaml shows the lock); nothing changed"
        fi
        sleep "$POLL_INTERVAL"
    done
    rm -f "$errors"
}

# Give kured's lock back if this script took it and still holds it (on_exit).
release_reboot_lock() {
    [[ -n $reboot_lock_taken ]] || return 0
    reboot_lock_taken=""
    local state version holder
    if state=$(reboot_lock_state 2>/dev/null) && read -r version holder _ <<<"$state" &&
        [[ $holder == "pulumi:$NODE_NAME" ]] &&
        kube annotate daemonset kured -n kube-system --resource-version="$version" "$reboot_lock_annotation-" \
            >/dev/null 2>&1; then
        say "released kured's reboot lock"
    else
        say "could not release kured's reboot lock: it expires ${reboot_lock_ttl}s after it was taken"
    fi
}

# Before a server goes down by the stack's hand: kured's lock, then the other etcd members Ready.
before_server_goes_down() {
    take_reboot_lock
    wait_etcd_peers
}

# Whatever ends a script: the downloaded installer is removed and kured's lock given back.
on_exit() {
    rm -f ${installer:+"$installer"}
    release_reboot_lock
}
trap on_exit EXIT

# The unit of this node: the official installer names the unit of INSTALL_K3S_EXEC=agent k3s-agent.
k3s_unit() {
    if [[ $ROLE == agent ]]; then echo k3s-agent; else echo k3s; fi
}

# The installed release, or nothing when k3s is not installed.
installed_version() {
    command -v k3s >/dev/null 2>&1 || return 0
    k3s --version | awk 'NR == 1 { print $3 }'
}

# The checksum of everything K3s reads as config: config.yaml and its drop-ins. install.sh compares it
# with the one recorded after the last (re)start; upgrade.sh's restart applies the current config too.
config_checksum() {
    (
        cd "$root/etc/rancher/k3s"
        shopt -s nullglob
        sha256sum config.yaml config.yaml.d/*.yaml
    ) | sha256sum | cut -d' ' -f1
}

# An install killed half-way (a dropped session, the node-side time limit) can leave the new binary in
# place without the unit, the symlinks or the uninstall script the installer writes after it: the
# version alone then says "installed". run_installer writes install.pending before the installer and
# install.done (version and sha256 of the binary it left) only after it finished; install_incomplete
# tells install.sh and upgrade.sh to run the installer again. A node installed before these markers
# existed has neither file and counts as complete.
# The markers' paths (functions: load_env sets root after this file is sourced).
install_pending() { echo "$root/var/lib/honeydue/k3s-install.pending"; }
install_done() { echo "$root/var/lib/honeydue/k3s-install.done"; }

install_fingerprint() {
    local binary
    binary=$(command -v k3s) || return 0
    printf '%s %s\n' "$(installed_version)" "$(sha256sum <"$binary" | cut -d' ' -f1)"
}

install_incomplete() {
    [[ -e $(install_pending) ]] && return 0
    [[ -e $(install_done) ]] || return 1
    [[ $(cat "$(install_done)") != "$(install_fingerprint)" ]]
}

installer=""
# Install (not start) K3S_VERSION with the install script of the release tag itself, not get.k3s.io's
# moving one, so a re-run years later installs the same way. '+' is encoded as it is in GitHub's tag URLs.
run_installer() {
    local url="https://raw.githubusercontent.com/k3s-io/k3s/${K3S_VERSION//+/%2B}/install.sh" k3s_command=server
    [[ $ROLE != agent ]] || k3s_command=agent
    # The downloaded installer is not left behind, whatever happens after (on_exit).
    installer=$(mktemp)
    say "installing k3s $K3S_VERSION (installer $url)"
    curl -sSfL --retry 5 --retry-delay 2 --connect-timeout 10 --max-time 120 -o "$installer" "$url"
    # The installer only installs the binary and the unit: the caller starts it (install.sh retries the
    # start that can meet etcd's learner limit in one place). Everything else comes from config.yaml, so
    # re-running the installer cannot drop a flag that was only given on its command line.
    mkdir -p "$root/var/lib/honeydue"
    rm -f "$(install_done)"
    printf '%s\n' "$K3S_VERSION" >"$(install_pending)"
    INSTALL_K3S_VERSION=$K3S_VERSION INSTALL_K3S_EXEC=$k3s_command INSTALL_K3S_SKIP_START=true sh "$installer"
    install_fingerprint >"$(install_done)"
    rm -f "$(install_pending)"
}

# Wait until NODE_NAME reports Ready, at most READY_TIMEOUT seconds, asking the API server through
# `k3s kubectl` (a server's own, or server 1's for an agent). $1: a release the kubelet must also run
# (empty: any); the kubelet reports a new release only once it restarted on the new binary. $2: a note
# for the timeout message. Sets node_version. On timeout it names the node, what was wanted and the last
# state seen, so a failed deploy says why without an SSH session.
wait_node_ready() {
    local want=${1:-} note=${2:-} out errors status reason message last="no answer from the API server"
    local deadline=$((SECONDS + READY_TIMEOUT))
    # kubelet version first: the condition's message is free text and goes last, into the final variable.
    local query='{.status.nodeInfo.kubeletVersion}|{range .status.conditions[?(@.type=="Ready")]}{.status}|{.reason}|{.message}{end}'
    # Only stdout is parsed: kubectl writes warnings (deprecations, client-side throttling, klog lines)
    # to stderr, and mixed in they would make a Ready node look NotReady. stderr is kept for the message.
    errors=$(mktemp)
    while :; do
        if out=$(kube get node "$NODE_NAME" -o jsonpath="$query" 2>"$errors"); then
            IFS='|' read -r node_version status reason message <<<"$out"
            if [[ $status == True && (-z $want || $node_version == "$want") ]]; then
                rm -f "$errors"
                return 0
            fi
            last="kubelet ${node_version:-?}, Ready=${status:-<no condition yet>} ${reason} ${message}"
        else
            # NotFound until the kubelet registers, connection refused while the API server (re)starts.
            last=$(tail -n 1 "$errors")
        fi
        if ((SECONDS >= deadline)); then
            rm -f "$errors"
            die "node $NODE_NAME not Ready${want:+ at $want} after ${READY_TIMEOUT}s${note:+ $note}; last seen: $last"
        fi
        sleep "$POLL_INTERVAL"
    done
}
