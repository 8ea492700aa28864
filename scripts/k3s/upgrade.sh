#!/usr/bin/env bash
# Move an installed node to K3S_VERSION: cordon, drain (PodDisruptionBudgets respected), install, wait
# until Ready at the new version, uncordon. A node already at K3S_VERSION is left alone.
#
# Inputs: /etc/honeydue/k3s.env (K3S_VERSION, NODE_NAME, ROLE, READY_TIMEOUT, DRAIN_TIMEOUT, START_TIMEOUT,
# POLL_INTERVAL); the installer reads /etc/rancher/k3s/config.yaml as on first install. HONEYDUE_ROOT
# (unset on nodes) prefixes every path for tests.
#
# A marker file records an upgrade in flight, so a re-run after a failure between install and uncordon
# finishes the job instead of seeing "versions match" and leaving the node cordoned.
#
# An agent (ROLE agent) has no admin kubeconfig: server 1 cordons and drains it before this step
# (agent-drain.sh) and waits for it Ready at the new release and uncordons it after (agent-ready.sh), so
# here an agent only installs the release and restarts its unit, k3s-agent.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'upgrade.sh [%s]' /etc/honeydue/k3s.env
hold_lock node

state_dir=$root/var/lib/honeydue
marker=$state_dir/k3s-upgrade-in-progress
# install.sh compares against this checksum; the installer restart below applies the current config too.
checksum_file=$state_dir/k3s-config.sha256
unit=$(k3s_unit)

# The pinned installer (lib.sh, as install.sh), then the restart onto the new binary.
install_release() {
    run_installer
    local rc=0
    # The K3s unit has TimeoutStartSec=0: bound the restart. An existing etcd member never meets the
    # learner limit, so no retry here.
    timeout "$START_TIMEOUT" systemctl restart "$unit" || rc=$?
    ((rc == 0)) || die "k3s $K3S_VERSION failed to start (systemctl exit $rc); $NODE_NAME stays cordoned: see journalctl -u $unit"
    mkdir -p "$state_dir"
    config_checksum >"$checksum_file"
}

current=$(installed_version)
[[ -n $current ]] || die "k3s is not installed on $NODE_NAME; install.sh installs it, upgrade.sh only changes versions"
if [[ $current == "$K3S_VERSION" && ! -e $marker ]]; then
    if install_incomplete; then
        say "k3s $K3S_VERSION is installed but its install did not finish: left to install.sh"
    else
        say "k3s $K3S_VERSION is installed: nothing to do"
    fi
    exit 0
fi

if [[ $ROLE == agent ]]; then
    say "upgrading k3s $current -> $K3S_VERSION (server 1 drained $NODE_NAME and uncordons it once Ready)"
    install_release
    say "k3s $K3S_VERSION is installed and $unit restarted"
    exit 0
fi

if [[ $current != "$K3S_VERSION" ]]; then
    # One server down at a time, across updates and kured's reboots too (lib.sh); kured's lock is held
    # until the node is Ready and uncordoned (on_exit).
    before_server_goes_down
    say "upgrading k3s $current -> $K3S_VERSION"
    mkdir -p "$state_dir"
    printf '%s -> %s\n' "$current" "$K3S_VERSION" >"$marker"
    kube cordon "$NODE_NAME"
    # Evictions, not deletions (no --disable-eviction): a PodDisruptionBudget can hold the drain, and
    # --timeout bounds how long. DaemonSet pods (Traefik) stay; emptyDir data is scratch by definition.
    if ! kube drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout="${DRAIN_TIMEOUT}s"; then
        # Nothing was changed yet: give the node back rather than leave capacity cordoned.
        kube uncordon "$NODE_NAME" || true
        rm -f "$marker"
        die "drain of $NODE_NAME did not finish within ${DRAIN_TIMEOUT}s (a PodDisruptionBudget may block it); node uncordoned, k3s left at $current"
    fi
    install_release
else
    say "finishing the upgrade to $K3S_VERSION recorded in $marker"
    if install_incomplete; then
        say "its install did not finish (killed after placing the binary?): running the installer again"
        install_release
    fi
fi

wait_node_ready "$K3S_VERSION" "(it stays cordoned)"
kube uncordon "$NODE_NAME"
rm -f "$marker"
say "k3s $K3S_VERSION is running and $NODE_NAME is Ready and uncordoned"
