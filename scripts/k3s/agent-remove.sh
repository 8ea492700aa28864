#!/usr/bin/env bash
# Runs on server 1 for one agent that is about to be destroyed (an agent has no admin kubeconfig to
# drain itself with): drain it (PodDisruptionBudgets respected) and delete its Node. It never uninstalls
# anything: this is server 1. agent-uninstall.sh then uninstalls K3s on the agent itself. Safe to re-run:
# a node that is gone is left alone.
#
# Inputs: the agent's env file at $HONEYDUE_ENV_FILE (NODE_NAME, ROLE, DRAIN_TIMEOUT), written under
# /etc/honeydue/agents/ by the same remote command. HONEYDUE_ROOT (unset on nodes) prefixes every path
# for tests.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_agent_env 'agent-remove.sh [%s]'
hold_lock agent-"$NODE_NAME"

# The env file decides which node is deleted: never server 1's own (or any server's).
[[ $ROLE == agent ]] || die "$NODE_NAME is not an agent (ROLE $ROLE); servers remove themselves (remove.sh)"

forget() {
    rm -f "$root/var/lib/honeydue/agents/$NODE_NAME.upgrade" "$env_file"
}

if ! command -v k3s >/dev/null 2>&1; then
    # Server 1 left the cluster already (a whole-stack destroy): no API to ask here.
    say "k3s is not installed on this server: nothing to remove from here"
    forget
    exit 0
fi
present=$(kube get node "$NODE_NAME" --ignore-not-found -o name) ||
    die "cannot ask the API server about $NODE_NAME; fix the API server (or delete the node by hand), then re-run"
if [[ -z $present ]]; then
    say "node $NODE_NAME is not in the cluster: nothing to remove"
    forget
    exit 0
fi
# Evictions respect PodDisruptionBudgets; a blocked drain stops the destroy here, before any harm.
kube drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout="${DRAIN_TIMEOUT}s" ||
    die "drain of $NODE_NAME did not finish within ${DRAIN_TIMEOUT}s (a PodDisruptionBudget may block it); nothing removed"
kube delete node "$NODE_NAME" --ignore-not-found
forget
say "node $NODE_NAME drained and deleted; agent-uninstall.sh uninstalls k3s on it next"
