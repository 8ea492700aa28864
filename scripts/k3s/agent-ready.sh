#!/usr/bin/env bash
# Runs on server 1 for one agent (an agent has no admin kubeconfig to ask with): wait until the agent's
# node reports Ready, at most READY_TIMEOUT seconds. After an upgrade that agent-drain.sh started (its
# marker is here) the node must be Ready at K3S_VERSION, and is then uncordoned; a node an operator
# cordoned is never uncordoned here. On timeout name the node and the last condition seen.
#
# Inputs: the agent's env file at $HONEYDUE_ENV_FILE (K3S_VERSION, NODE_NAME, ROLE, READY_TIMEOUT,
# POLL_INTERVAL), written under /etc/honeydue/agents/ by the same remote command. HONEYDUE_ROOT (unset on
# nodes) prefixes every path for tests.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_agent_env 'agent-ready.sh [%s]'
hold_lock agent-"$NODE_NAME"

[[ $ROLE == agent ]] || die "$NODE_NAME is not an agent (ROLE $ROLE); servers wait for themselves (wait-ready.sh)"

# Written by agent-drain.sh when it cordoned the agent for an upgrade.
marker=$root/var/lib/honeydue/agents/$NODE_NAME.upgrade
if [[ -e $marker ]]; then
    wait_node_ready "$K3S_VERSION"
    kube uncordon "$NODE_NAME"
    rm -f "$marker"
    say "node $NODE_NAME is Ready at $K3S_VERSION and uncordoned"
else
    wait_node_ready ""  # any release
    say "node $NODE_NAME is Ready (kubelet $node_version)"
fi
