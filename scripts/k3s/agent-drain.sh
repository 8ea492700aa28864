#!/usr/bin/env bash
# Runs on server 1 for one agent (an agent has no admin kubeconfig to drain itself with), before the
# agent's converge step: when the agent's kubelet is not at K3S_VERSION, cordon it and drain it
# (evictions: PodDisruptionBudgets respected, bounded by DRAIN_TIMEOUT). Nothing to do when it already
# runs K3S_VERSION (a config change restarts k3s-agent without a drain, as it does on servers) or when it
# is not a node of the cluster.
#
# Inputs: the agent's env file at $HONEYDUE_ENV_FILE (K3S_VERSION, NODE_NAME, ROLE, DRAIN_TIMEOUT), written
# under /etc/honeydue/agents/ by the same remote command. HONEYDUE_ROOT (unset on nodes) prefixes every
# path for tests.
#
# A marker here records the upgrade this step started; agent-ready.sh uncordons the agent once it is
# Ready at the new release, and only then.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_agent_env 'agent-drain.sh [%s]'
hold_lock agent-"$NODE_NAME"

[[ $ROLE == agent ]] || die "$NODE_NAME is not an agent (ROLE $ROLE); servers drain themselves (upgrade.sh)"

marker_dir=$root/var/lib/honeydue/agents
marker=$marker_dir/$NODE_NAME.upgrade

running=$(kube get node "$NODE_NAME" --ignore-not-found \
    -o jsonpath='{.status.nodeInfo.kubeletVersion}') ||
    die "cannot ask the API server about $NODE_NAME"
if [[ -z $running ]]; then
    say "node $NODE_NAME is not in the cluster: nothing to drain"
    exit 0
fi
if [[ $running == "$K3S_VERSION" ]]; then
    say "kubelet of $NODE_NAME runs $K3S_VERSION: nothing to drain"
    exit 0
fi

say "draining $NODE_NAME for its upgrade $running -> $K3S_VERSION"
mkdir -p "$marker_dir"
printf '%s -> %s\n' "$running" "$K3S_VERSION" >"$marker"
kube cordon "$NODE_NAME"
# DaemonSet pods (Traefik) stay; emptyDir data is scratch by definition.
if ! kube drain "$NODE_NAME" --ignore-daemonsets --delete-emptydir-data --timeout="${DRAIN_TIMEOUT}s"; then
    # Nothing was changed yet: give the node back rather than leave capacity cordoned.
    kube uncordon "$NODE_NAME" || true
    rm -f "$marker"
    die "drain of $NODE_NAME did not finish within ${DRAIN_TIMEOUT}s (a PodDisruptionBudget may block it); node uncordoned, k3s left at $running"
fi
say "$NODE_NAME is cordoned and drained; its converge step installs $K3S_VERSION"
