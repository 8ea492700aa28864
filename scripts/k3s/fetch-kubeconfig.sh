#!/usr/bin/env bash
# Print the admin kubeconfig K3s wrote. It holds the cluster-admin key: the component keeps this
# command's stdout secret and rewrites its `server: https://127.0.0.1:6443`.
#
# Inputs: /etc/honeydue/k3s.env (NODE_NAME). HONEYDUE_ROOT (unset on nodes) prefixes every path for tests.
set -euo pipefail

root=${HONEYDUE_ROOT:-}
env_file=$root/etc/honeydue/k3s.env
[[ -r $env_file ]] || { echo "fetch-kubeconfig.sh: $env_file is missing; the remote command writes it first" >&2; exit 1; }
# shellcheck source=/dev/null
. "$env_file"

kubeconfig=$root/etc/rancher/k3s/k3s.yaml
if [[ ! -s $kubeconfig ]]; then
    echo "fetch-kubeconfig.sh [$NODE_NAME]: ERROR: $kubeconfig is missing or empty; has k3s started on $NODE_NAME?" >&2
    exit 1
fi
cat "$kubeconfig"
