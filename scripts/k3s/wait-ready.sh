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

# kubelet version first: the condition's message is free text and goes last, into the final read variable.
query='{.status.nodeInfo.kubeletVersion}|{range .status.conditions[?(@.type=="Ready")]}{.status}|{.reason}|{.message}{end}'
deadline=$((SECONDS + READY_TIMEOUT))
last="no answer from the API server"
while :; do
    if out=$(k3s kubectl get node "$NODE_NAME" --request-timeout=10s -o jsonpath="$query" 2>&1); then
        IFS='|' read -r version status reason message <<<"$out"
        if [[ $status == True ]]; then
            say "node $NODE_NAME is Ready (kubelet $version)"
            exit 0
        fi
        last="Ready=${status:-<no condition yet>} ${reason} ${message}"
    else
        # NotFound until the kubelet registers, connection refused while the API server starts.
        last=$(tail -n 1 <<<"$out")
    fi
    if ((SECONDS >= deadline)); then
        die "node $NODE_NAME not Ready after ${READY_TIMEOUT}s; last seen: $last"
    fi
    sleep "$POLL_INTERVAL"
done
