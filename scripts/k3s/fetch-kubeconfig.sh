#!/usr/bin/env bash
# Print the admin kubeconfig K3s wrote. It holds the cluster-admin key: the component keeps this
# command's stdout secret and rewrites its `server: https://127.0.0.1:6443`.
#
# Inputs: /etc/honeydue/k3s.env (NODE_NAME). HONEYDUE_ROOT (unset on nodes) prefixes every path for tests.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'fetch-kubeconfig.sh [%s]' /etc/honeydue/k3s.env

kubeconfig=$root/etc/rancher/k3s/k3s.yaml
[[ -s $kubeconfig ]] || die "$kubeconfig is missing or empty; has k3s started on $NODE_NAME?"
cat "$kubeconfig"
