#!/usr/bin/env bash
# Runs on an agent that is about to be destroyed, after server 1 drained it and deleted its Node
# (agent-remove.sh): uninstall K3s with the script the official installer wrote for the k3s-agent
# unit. Safe to re-run: without that script there is nothing left to uninstall.
#
# Inputs: /etc/honeydue/k3s.env (NODE_NAME, ROLE). HONEYDUE_ROOT (unset on nodes) prefixes every path for
# tests.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'agent-uninstall.sh [%s]' /etc/honeydue/k3s.env
hold_lock node

[[ $ROLE == agent ]] || die "$NODE_NAME is not an agent (ROLE $ROLE); servers are removed by remove.sh"

if ! command -v k3s-agent-uninstall.sh >/dev/null 2>&1; then
    say "k3s-agent is not installed: nothing to uninstall"
    exit 0
fi
k3s-agent-uninstall.sh
say "k3s-agent uninstalled"
