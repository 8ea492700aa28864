#!/usr/bin/env bash
# kured's sentinel command (components/k8s/kured.py, --reboot-sentinel-command): may this node reboot now?
# kured runs it every period, before it takes its lock, through `nsenter -m/proc/1/ns/mnt` (kured 1.22.1
# pkg/checkers CommandChecker): in the host's files, so this script, lib.sh and K3s's admin kubeconfig are
# the node's, but in the kured pod's network namespace and with the pod's environment.
#
# Exit 0: reboot. Exit 1: no reboot needed (no /var/run/reboot-required). Exit 2: a reboot is needed but
# would put etcd's quorum at risk, so not now; kured logs an exit code other than 1 with this script's
# output and asks again at its next period. A server reboots only when every other etcd member's Node
# is Ready and schedulable and the members left up still hold a majority (two members of three; with
# two, none may go: the window of a replacement). kured's lock, taken after this check, keeps two nodes
# from passing it at once; the stack's own steps take the same lock (lib.sh take_reboot_lock).
# Blind spot, as for the stack's steps: a peer down for less than the node monitor grace period (its
# Node still says Ready), and the time between this check and the reboot (kured's drain).
set -euo pipefail

# The common answer first, every period and every minute (kured's metrics loop runs the check too):
# nothing to do, no API call.
[[ -e ${HONEYDUE_ROOT:-}/var/run/reboot-required ]] || exit 1
# From here a reboot is wanted: any failure (a missing file, an unset variable, a command that fails) must
# not read as "no reboot needed" (1, which kured does not log) but as "not now" (2, logged with the output).
trap 'status=$?; ((status == 0)) || exit 2' EXIT

# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
trap 'status=$?; on_exit; ((status == 0)) || exit 2' EXIT
load_env 'reboot-check.sh [%s]' /etc/honeydue/k3s.env
if [[ $ROLE == agent ]]; then
    say "reboot required (an agent: no etcd member to count)"
    exit 0
fi

refuse() {
    say "reboot required but not now: $*" >&2
    exit 2
}

# The kubernetes Service, reachable from the pod's network namespace; K3s's serving certificate names its
# address (pkg/cli/server/server.go appends the first IP of the service range to the SANs).
[[ -n ${KUBERNETES_SERVICE_HOST:-} ]] || refuse "KUBERNETES_SERVICE_HOST is not set (not run by kured?)"
api_server=https://$KUBERNETES_SERVICE_HOST:${KUBERNETES_SERVICE_PORT:-443}
query='{range .items[*]}{.metadata.name}|{.spec.unschedulable}|{range .status.conditions[?(@.type=="Ready")]}{.status}{end}{"\n"}{end}'
errors=$(mktemp)
if ! out=$(kube get nodes -l node-role.kubernetes.io/etcd=true -o jsonpath="$query" 2>"$errors"); then
    reason=$(tail -n 1 "$errors")
    rm -f "$errors"
    refuse "cannot list the etcd members ($reason)"
fi
rm -f "$errors"
# members: every etcd member's Node, this one included; up: the others Ready and schedulable.
read -r members up busy found < <(awk -F'|' -v self="$NODE_NAME" '
    $1 == "" { next }
    { members++ }
    $1 == self { found = "yes"; next }
    $2 == "true" || $3 != "True" { busy = busy sep $1 "(" ($2 == "true" ? "cordoned" : "not-Ready") ")"; sep = ","; next }
    { up++ }
    END { printf "%d %d %s %s\n", members, up, (busy == "" ? "-" : busy), (found == "" ? "no" : found) }' <<<"$out")
# Nothing to count with (the label missing, a list cut short): no reboot rather than a guess.
[[ $found == yes ]] || refuse "$NODE_NAME is not among the etcd members the API lists ($members)"
if ((members > 1)); then
    [[ $busy == - ]] || refuse "other etcd members are busy: $busy"
    ((up > members / 2)) || refuse "$up of $members etcd members would stay up: not a majority"
fi
say "reboot required; $up other etcd member(s) of $members Ready and schedulable"
