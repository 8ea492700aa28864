#!/usr/bin/env bash
# Wait for cloud-init's first boot to finish (it installs ufw and applies the firewall) before K3s is
# installed; sshd is up, and pulumi-command connected, long before cloud-init is done.
#
# Inputs: /etc/honeydue/k3s.env (NODE_NAME, CLOUD_INIT_TIMEOUT). HONEYDUE_ROOT (unset on nodes) prefixes
# every path for tests.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'wait-cloud-init.sh [%s]' /etc/honeydue/k3s.env

if ! command -v cloud-init >/dev/null 2>&1; then
    say "cloud-init is not installed: nothing to wait for"
    exit 0
fi

rc=0
# `status --wait` blocks until cloud-init is done and exits 0 (done), 1 (error) or 2 (done with
# recoverable errors, cloud-init >= 23.4); timeout bounds it, exiting 124.
timeout "$CLOUD_INIT_TIMEOUT" cloud-init status --wait >/dev/null || rc=$?
case $rc in
0)
    say "cloud-init is done"
    ;;
2)
    # Recoverable errors (e.g. a deprecated key) leave the node usable: report them and go on.
    say "cloud-init is done with recoverable errors:"
    cloud-init status --long || true
    ;;
124)
    die "cloud-init still running after ${CLOUD_INIT_TIMEOUT}s on $NODE_NAME; see /var/log/cloud-init-output.log"
    ;;
*)
    cloud-init status --long >&2 || true
    die "cloud-init failed on $NODE_NAME (status error, exit $rc): the first boot did not complete; see /var/log/cloud-init-output.log"
    ;;
esac
