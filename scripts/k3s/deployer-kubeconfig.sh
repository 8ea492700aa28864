#!/usr/bin/env bash
# Print the kubeconfig Pulumi uses: K3s's cluster entry (server, CA) with the token of the ServiceAccount
# pulumi-deployer instead of the admin client certificate, which expires after 365 days
# (components/k3s/deployer.py says why). Runs on server 1 once its node is Ready, with K3s's admin
# kubeconfig, which K3s itself renews on the node.
#
# First it waits until K3s's helm.cattle.io CRDs are established: the Kubernetes provider, and so the
# HelmChartConfig of Traefik, is only usable after this step, so the first `up` can't race the
# helm-controller registering them. Then it (re)creates the token Secret, so every run hands out a new
# token and the old one stops working (`pulumi up --replace` of this step rotates it).
#
# Inputs: /etc/honeydue/k3s.env (NODE_NAME, READY_TIMEOUT, POLL_INTERVAL), the manifests the remote
# command writes under /etc/honeydue/deployer/. stdout is the kubeconfig (secret); messages go to stderr.
# HONEYDUE_ROOT (unset on nodes) prefixes every path for tests.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'deployer-kubeconfig.sh [%s]' /etc/honeydue/k3s.env

admin=$root/etc/rancher/k3s/k3s.yaml
rbac=$root/etc/honeydue/deployer/rbac.yaml
token_secret=$root/etc/honeydue/deployer/token-secret.yaml
namespace=kube-system
secret=pulumi-deployer-token
crds=(helmcharts.helm.cattle.io helmchartconfigs.helm.cattle.io)
[[ -s $admin ]] || die "$admin is missing or empty; has k3s started on $NODE_NAME?"
[[ -s $rbac && -s $token_secret ]] || die "the deployer manifests are missing; the remote command writes them first"

# Every call is bounded: a hung API server fails the step instead of holding the update forever.
kc() { k3s kubectl --kubeconfig "$admin" --request-timeout=10s "$@"; }
# Messages to stderr: stdout is the kubeconfig alone.
note() { say "$@" >&2; }

# Retry "$@" every POLL_INTERVAL for at most READY_TIMEOUT seconds; $1 names what is awaited.
await() {
    local what=$1 deadline=$((SECONDS + READY_TIMEOUT))
    shift
    until "$@" >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "$what: not there after ${READY_TIMEOUT}s"
        sleep "$POLL_INTERVAL"
    done
}

# `kubectl wait` fails at once on a CRD that does not exist yet: first wait for it to exist.
for crd in "${crds[@]}"; do
    await "CRD $crd" kc get crd "$crd" -o name
done
# The wait's own requests may last as long as the wait: a 10 s request timeout would cut its watch short.
k3s kubectl --kubeconfig "$admin" --request-timeout="$((READY_TIMEOUT + 10))s" \
    wait --for condition=established --timeout="${READY_TIMEOUT}s" "${crds[@]/#/crd/}" >&2 ||
    die "the helm.cattle.io CRDs are not established"
note "helm.cattle.io CRDs established"

kc apply -f "$rbac" >&2
kc delete -f "$token_secret" --ignore-not-found --wait=true >&2
kc create -f "$token_secret" >&2

token_of() { kc -n "$namespace" get secret "$secret" -o 'jsonpath={.data.token}'; }
has_token() { [[ -n $(token_of) ]]; }
await "token of $namespace/$secret" has_token
# Only shell builtins and pipes see the token: it is never an argument of a process (/proc/*/cmdline).
token=$(token_of | base64 -d)
[[ -n $token ]] || die "the token of $namespace/$secret is empty"
ca=$(kc config view --raw -o 'jsonpath={.clusters[0].cluster.certificate-authority-data}')
server=$(kc config view --raw -o 'jsonpath={.clusters[0].cluster.server}')
[[ -n $ca && -n $server ]] || die "$admin has no cluster entry"
note "kubeconfig of ServiceAccount $namespace/pulumi-deployer ready"

# The cluster entry exactly as K3s wrote it (name `default`, server, CA): only the user differs.
cat <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- cluster:
    certificate-authority-data: $ca
    server: $server
  name: default
contexts:
- context:
    cluster: default
    user: pulumi-deployer
  name: default
current-context: default
users:
- name: pulumi-deployer
  user:
    token: $token
KUBECONFIG
