#!/usr/bin/env bash
# Take this server out of the cluster before it is destroyed: drain it, delete its Node (K3s's etcd
# member controller then removes its etcd member), then uninstall K3s. Safe to re-run at every step.
#
# Inputs: /etc/honeydue/k3s.env (NODE_NAME, ROLE, DRAIN_TIMEOUT). HONEYDUE_ROOT (unset on nodes) prefixes every
# path for tests. Servers only: an agent has no admin kubeconfig to drain itself with.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'remove.sh [%s]' /etc/honeydue/k3s.env
hold_lock node

state_dir=$root/var/lib/honeydue
# Once the Node is deleted this server's etcd member goes and its API server stops answering, so a
# re-run after that point must not ask the API again: this marker says the Node is already gone.
deleted_marker=$state_dir/k3s-node-deleted

[[ $ROLE != agent ]] ||
    die "$NODE_NAME is an agent: server 1 drains and deletes it (agent-remove.sh), agent-uninstall.sh uninstalls it"

if ! command -v k3s >/dev/null 2>&1 && ! command -v k3s-uninstall.sh >/dev/null 2>&1; then
    say "k3s is not installed: nothing to remove"
    exit 0
fi

# Without the k3s binary there is no API client left; only an uninstall script to finish with.
if [[ ! -e $deleted_marker ]] && command -v k3s >/dev/null 2>&1; then
    present=$(kube get node "$NODE_NAME" --ignore-not-found -o name) ||
        die "cannot ask the API server about $NODE_NAME; delete the node from another server, then re-run"
    if [[ -n $present ]]; then
        # Never while kured reboots another server: with this member gone, one more down loses quorum.
        # The lock outlives the delete (the local API is gone with the member) until its TTL.
        take_reboot_lock
        # Evictions respect PodDisruptionBudgets; a blocked drain stops the destroy here, before any harm.
        kube drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout="${DRAIN_TIMEOUT}s" ||
            die "drain of $NODE_NAME did not finish within ${DRAIN_TIMEOUT}s (a PodDisruptionBudget may block it); nothing removed"
        # --wait=false: the delete removes this server's etcd member, after which the local API server
        # cannot confirm anything.
        kube delete node "$NODE_NAME" --wait=false
        say "node $NODE_NAME deleted; K3s removes its etcd member"
    else
        say "node $NODE_NAME is not in the cluster"
    fi
    mkdir -p "$state_dir"
    : >"$deleted_marker"
fi

if command -v k3s-uninstall.sh >/dev/null 2>&1; then
    k3s-uninstall.sh
fi
rm -f "$deleted_marker"
say "k3s uninstalled"
