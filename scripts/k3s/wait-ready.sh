#!/usr/bin/env bash
# Wait until this node reports Ready, at most READY_TIMEOUT seconds; on timeout name the node and the last
# condition seen, so a failed deploy says why without an SSH session.
#
# Inputs: /etc/honeydue/k3s.env (NODE_NAME, READY_TIMEOUT, POLL_INTERVAL). HONEYDUE_ROOT (unset on nodes)
# prefixes every path for tests.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'wait-ready.sh [%s]' /etc/honeydue/k3s.env

wait_node_ready ""  # any release
say "node $NODE_NAME is Ready (kubelet $node_version)"
