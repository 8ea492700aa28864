#!/usr/bin/env bash
# Wait until the traefik.io CRDs the stack creates objects of are established. K3s installs them from its
# traefik-crd chart, through a helm Job that starts after the API server: on a new cluster that is after
# server 1 is Ready, and pulumi-kubernetes retries a create whose kind is not served yet only for about
# 30 seconds (provider/pkg/await/await.go, Creation). Traefik's Middlewares wait for this step.
#
# Inputs: /etc/honeydue/k3s.env (NODE_NAME, READY_TIMEOUT, POLL_INTERVAL). HONEYDUE_ROOT (unset on nodes)
# prefixes every path for tests.
set -euo pipefail

# The shared helpers: load_env, say, die, ... (lib.sh says how it gets onto the node).
# shellcheck source=SCRIPTDIR/lib.sh
. "${HONEYDUE_ROOT:-}/usr/local/lib/honeydue/k3s/lib.sh"
load_env 'wait-traefik-crds.sh [%s]' /etc/honeydue/k3s.env

crds=(middlewares.traefik.io)
deadline=$((SECONDS + READY_TIMEOUT))
# `kubectl wait` fails at once on a CRD that does not exist yet: first wait for it to exist.
for crd in "${crds[@]}"; do
    until kube get crd "$crd" -o name >/dev/null 2>&1; do
        ((SECONDS < deadline)) || die "CRD $crd: not there after ${READY_TIMEOUT}s (K3s's traefik-crd chart)"
        sleep "$POLL_INTERVAL"
    done
done
# The wait's own requests may last as long as the wait: the usual request timeout would cut its watch short.
request_timeout="$((READY_TIMEOUT + 10))s"
kube wait --for condition=established --timeout="${READY_TIMEOUT}s" "${crds[@]/#/crd/}" >/dev/null ||
    die "the traefik.io CRDs are not established"
say "traefik.io CRDs established: ${crds[*]}"
