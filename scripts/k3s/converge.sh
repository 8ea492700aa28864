#!/usr/bin/env bash
# The day-2 step of a K3s node: brings a running node to the release and config Pulumi rendered.
# It runs after every change of either, one server after the other along the join chain, so the
# cluster never loses more than one server (and etcd never more than one member) at a time; then the
# agents, one after the other, each between server 1's agent-drain.sh and agent-ready.sh.
#
# Inputs: the scripts below, installed next to this one by the same remote command, and
# /etc/honeydue/k3s.env (ROLE) + /etc/rancher/k3s/config.yaml (written by that command too).
# HONEYDUE_ROOT (unset on nodes) prefixes every path for tests.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'converge.sh [%s]' /etc/honeydue/k3s.env
hold_lock node

lib=$root/usr/local/lib/honeydue/k3s

# A new release: cordon, drain (PodDisruptionBudgets respected), install, Ready, uncordon.
# Nothing to do when the installed release is the wanted one.
"$lib/upgrade.sh"
# A new config: restart k3s with it. Nothing to do when its checksum is the one last applied.
"$lib/install.sh"
# Either way the server must be Ready before the next one moves. An agent has no admin kubeconfig to
# ask with: server 1 waits for it (agent-ready.sh).
if [[ $ROLE != agent ]]; then
    "$lib/wait-ready.sh"
fi
