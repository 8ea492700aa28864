#!/usr/bin/env bash
# Runs on an agent that is about to be destroyed, after server 1 drained it and deleted its Node
# (agent-remove.sh): uninstall K3s with the script the official installer wrote for the k3s-agent
# unit. Safe to re-run: without that script there is nothing left to uninstall.
#
# Inputs: /etc/honeydue/k3s.env (NODE_NAME, ROLE). HONEYDUE_ROOT (unset on nodes) prefixes every path for
# tests.
set -euo pipefail

root=${HONEYDUE_ROOT:-}
env_file=$root/etc/honeydue/k3s.env
[[ -r $env_file ]] || { echo "agent-uninstall.sh: $env_file is missing; the remote command writes it first" >&2; exit 1; }
# shellcheck source=/dev/null
. "$env_file"

say() { printf 'agent-uninstall.sh [%s]: %s\n' "$NODE_NAME" "$*"; }
die() { printf 'agent-uninstall.sh [%s]: ERROR: %s\n' "$NODE_NAME" "$*" >&2; exit 1; }

[[ $ROLE == agent ]] || die "$NODE_NAME is not an agent (ROLE $ROLE); servers are removed by remove.sh"

if ! command -v k3s-agent-uninstall.sh >/dev/null 2>&1; then
    say "k3s-agent is not installed: nothing to uninstall"
    exit 0
fi
k3s-agent-uninstall.sh
say "k3s-agent uninstalled"
