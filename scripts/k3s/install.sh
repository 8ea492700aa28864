#!/usr/bin/env bash
# Install K3s at K3S_VERSION with /etc/rancher/k3s/config.yaml, or do nothing when that is already done.
# A server (ROLE init/join) runs as the unit k3s; an agent (ROLE agent) as k3s-agent, the name the
# official installer gives the unit of INSTALL_K3S_EXEC=agent.
#
# Inputs: /etc/honeydue/k3s.env (K3S_VERSION, NODE_NAME, NODE_IP, ROLE, START_TIMEOUT, IFACE_TIMEOUT,
# JOIN_ATTEMPTS, RETRY_DELAY, POLL_INTERVAL) and /etc/rancher/k3s/config.yaml, both written by the same
# remote command just before this script. HONEYDUE_ROOT (unset on nodes) prefixes every path for tests.
#
# A node already running another version is left alone: upgrade.sh changes versions, because only it
# drains the node first.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'install.sh [%s]' /etc/honeydue/k3s.env
hold_lock node

config_dir=$root/etc/rancher/k3s
# K3s merges config.yaml.d/*.yaml over config.yaml, so the node-local NIC name needs no edit of the
# rendered config (whose checksum Pulumi owns).
dropin=$config_dir/config.yaml.d/10-flannel-iface.yaml
state_dir=$root/var/lib/honeydue
checksum_file=$state_dir/k3s-config.sha256
# kured's sentinel (components/k8s/kured.py SENTINEL), as apt's unattended-upgrades writes it.
reboot_sentinel=$root/var/run/reboot-required
unit=$(k3s_unit)

# The NIC that holds NODE_IP. Found by address because Hetzner names the private NIC differently per
# server type (enp7s0, ens10, ...).
private_iface() {
    local addrs
    addrs=$(ip -o -4 addr show)
    awk -v ip="$NODE_IP" '{ split($4, a, "/"); if (a[1] == ip) { sub(/@.*/, "", $2); print $2; exit } }' <<<"$addrs"
}

wait_for_iface() {
    local iface deadline=$((SECONDS + IFACE_TIMEOUT))
    while :; do
        iface=$(private_iface)
        if [[ -n $iface ]]; then
            printf '%s\n' "$iface"
            return 0
        fi
        ((SECONDS < deadline)) ||
            die "no network interface holds NODE_IP $NODE_IP after ${IFACE_TIMEOUT}s (ip -o -4 addr show); is the private network attached?"
        sleep "$POLL_INTERVAL"
    done
}

# Replace a file atomically, and not at all when the content is already there.
write_file() {
    local path=$1 mode=$2 content=$3 tmp
    mkdir -p "$(dirname "$path")"
    tmp=$(mktemp "$path.XXXXXX")
    printf '%s' "$content" >"$tmp"
    if cmp -s "$tmp" "$path"; then
        rm -f "$tmp"
        return 0
    fi
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$path"
}

# (Re)start k3s. A joining server is refused while another one is still an etcd learner (etcd admits
# one learner at a time); that refusal is retried with backoff, every other failure stops here.
start_k3s() {
    local attempt=1 delay=$RETRY_DELAY since rc journal
    while :; do
        since=$(date +%s)
        rc=0
        # The K3s unit has TimeoutStartSec=0: without a bound a start that never finishes hangs the deploy.
        timeout "$START_TIMEOUT" systemctl restart "$unit" || rc=$?
        ((rc != 0)) || return 0
        journal=$(journalctl -u "$unit" --since "@$since" --no-pager -q -o cat 2>&1 || true)
        if [[ $ROLE == join && $journal == *"too many learner members"* ]]; then
            ((attempt < JOIN_ATTEMPTS)) ||
                die "etcd still refused $NODE_NAME after $attempt starts ('too many learner members'): another server is stuck joining"
            say "etcd is still promoting another learner; start $attempt/$JOIN_ATTEMPTS failed, retrying in ${delay}s"
            sleep "$delay"
            attempt=$((attempt + 1))
            delay=$((delay * 2 > 60 ? 60 : delay * 2))
            continue
        fi
        if ((rc == 124)); then
            die "$unit did not start within ${START_TIMEOUT}s; journal: $(tail -n 20 <<<"$journal")"
        fi
        die "$unit failed to start (systemctl exit $rc); journal: $(tail -n 20 <<<"$journal")"
    done
}

record_checksum() {
    write_file "$checksum_file" 0644 "$1"$'\n'
}

# Leaving IPVS mode: kube-proxy cleans up only the nftables mode's leftovers when it starts in iptables mode
# (cmd/kube-proxy/app/server_linux.go platformCleanup: iptables and IPVS are both "iptables based"), so the
# kube-ipvs0 dummy interface with every IPVS-era Service address, the IPVS table, its ipsets and KUBE-IPVS-*
# chains stay. Removing the interface live would strand connections opened through IPVS (their ClusterIP no
# longer local, no DNAT for an established flow): instead the node asks kured for a reboot, which drains it
# first and clears all of it, one node at a time in the maintenance window. Until then established flows
# keep going through IPVS, new ones through kube-proxy's iptables rules.
request_reboot_after_ipvs() {
    grep -q 'proxy-mode=iptables' "$config_dir/config.yaml" || return 0
    ip link show kube-ipvs0 >/dev/null 2>&1 || return 0
    [[ -e $reboot_sentinel ]] && return 0
    say "kube-proxy left IPVS mode: asking kured to reboot this node in its window ($reboot_sentinel), which clears kube-ipvs0 and the IPVS table"
    mkdir -p "$(dirname "$reboot_sentinel")"
    printf 'honeydue: kube-proxy left IPVS mode\n' >"$reboot_sentinel"
}

[[ -f $config_dir/config.yaml ]] || die "$config_dir/config.yaml is missing; the remote command writes it first"
iface=$(wait_for_iface)
write_file "$dropin" 0600 "flannel-iface: $iface"$'\n'

current=$(installed_version)
checksum=$(config_checksum)
recorded=$(cat "$checksum_file" 2>/dev/null || true)

if [[ -z $current ]]; then
    run_installer
    start_k3s
elif [[ $current != "$K3S_VERSION" ]]; then
    say "k3s $current is installed, K3S_VERSION is $K3S_VERSION: left to upgrade.sh, which drains the node first"
    exit 0
elif install_incomplete; then
    say "the install of k3s $K3S_VERSION did not finish (killed after placing the binary?): running the installer again"
    run_installer
    start_k3s
elif [[ $checksum != "$recorded" ]]; then
    # A running server restarting: one server down at a time, across updates and kured's reboots too
    # (lib.sh); kured's lock is held until the server is Ready again.
    [[ $ROLE == agent ]] || before_server_goes_down
    say "k3s $K3S_VERSION is installed but its config changed: restarting $unit"
    start_k3s
    [[ -z $reboot_lock_taken ]] || wait_node_ready "" "after its config restart"
elif ! systemctl is-active --quiet "$unit"; then
    say "k3s $K3S_VERSION is installed with this config but not running: starting it"
    start_k3s
else
    # Also after an upgrade.sh that restarted k3s with this config already (the switch in the upgrade's `up`).
    request_reboot_after_ipvs
    say "k3s $K3S_VERSION is installed and running with this config: nothing to do"
    exit 0
fi
request_reboot_after_ipvs
record_checksum "$checksum"
say "k3s $K3S_VERSION started (flannel-iface $iface)"
