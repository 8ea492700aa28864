#!/usr/bin/env bash
# Before Cloudflare's SSL mode becomes full or strict: wait until this node's own Traefik serves, for every public
# hostname, the Origin CA certificate Pulumi issued, with a chain that verifies against Cloudflare's Origin CA
# root for that hostname. At most DEADLINE seconds; then one line per hostname that still fails, and exit 1, so
# `pulumi up` stops before the switch (components/edge/origin_gate.py).
#
# Why here and not from the runner: Traefik is a hostNetwork DaemonSet, so 127.0.0.1:443 is this node's Traefik
# and nothing else, and the node firewall admits 443 only from Cloudflare's ranges. Why at all: Kubernetes
# accepting the HelmChartConfig and the TLS Secrets proves nothing served. K3s's helm controller applies the
# chart later, and Traefik keeps serving its own default certificate when it cannot load ours.
#
# Inputs: /etc/honeydue/origin-gate.env (NODE_NAME, HOSTNAMES, EXPECTED_SHA256, ORIGIN_PORT, DEADLINE, INTERVAL,
# CONNECT_TIMEOUT; rendered by components/edge/origin_gate.py) and the root next to this script
# (/usr/local/lib/honeydue/edge/origin-ca-root.pem). With Authenticated Origin Pulls also CLIENT_AUTH (optional or
# required: the phase) and CLIENT_CERT and CLIENT_KEY (paths of a probe certificate of the origin-pull CA): then each
# hostname must also accept the probe's certificate; in phase 1 (optional: Traefik's RequestClientCert, which verifies
# nothing, so an edge presenting Cloudflare's shared certificate is served too) serve a client without one; in phase 2
# (required) refuse a client without one and a certificate of another CA (made here, thrown away). The probe's key is
# removed when the run ends, however it ends, even when an input is missing: a valid client certificate of our CA
# could be uploaded to another zone as its own. The step sends it again
# each run; by hand, docs/runbook.md says how. HONEYDUE_ROOT (unset on nodes) prefixes every path for tests.
set -euo pipefail

root=${HONEYDUE_ROOT:-}
# The probe's key (origin_gate.PROBE_KEY_PATH) and the trap first: the step writes the key before this script runs, so
# every exit below, the missing-input ones included, must remove it.
key_file=$root/etc/honeydue/origin-pull-probe.key
work=
trap '[[ -z $work ]] || rm -rf "$work"; rm -f "$key_file"' EXIT
env_file=$root/etc/honeydue/origin-gate.env
[[ -r $env_file ]] || { echo "served-certificate.sh: $env_file is missing; the remote command writes it first" >&2; exit 1; }
# Assignments only, every value shell-quoted (components/edge/origin_gate.py, gate_env).
# shellcheck source=/dev/null
. "$env_file"
ca_file=$root/usr/local/lib/honeydue/edge/origin-ca-root.pem
[[ -r $ca_file ]] || { echo "served-certificate.sh [$NODE_NAME]: $ca_file is missing" >&2; exit 1; }
work=$(mktemp -d)
if [[ -n ${CLIENT_KEY:-} && $root$CLIENT_KEY != "$key_file" ]]; then
    echo "served-certificate.sh [$NODE_NAME]: CLIENT_KEY=$CLIENT_KEY is not the probe key's path this script removes" >&2
    exit 1
fi

client=() stranger=()
if [[ -n ${CLIENT_CERT:-} ]]; then
    [[ -s $key_file ]] || {
        echo "served-certificate.sh [$NODE_NAME]: the probe's key $key_file is missing: the step sends it on stdin and it is removed after each run (docs/runbook.md: a run by hand)" >&2
        exit 1
    }
    client=(-cert "$root$CLIENT_CERT" -key "$key_file")
fi
if [[ ${CLIENT_AUTH:-} == required ]]; then
    # A client certificate of no CA of ours: in phase 2 Traefik must refuse it, or it does not verify client
    # certificates at all. Not in phase 1: RequestClientCert accepts it by design.
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=origin gate stranger" \
        -keyout "$work/stranger.key" -out "$work/stranger.pem" >/dev/null 2>&1
    stranger=(-cert "$work/stranger.pem" -key "$work/stranger.key")
fi

# Whether a TLS 1.2 handshake with SNI $1 (and the s_client options after it) completes.
handshake() {
    local host=$1
    shift
    timeout "$CONNECT_TIMEOUT" openssl s_client -connect "127.0.0.1:$ORIGIN_PORT" -servername "$host" -tls1_2 "$@" \
        </dev/null >/dev/null 2>&1
}

# What 127.0.0.1:$ORIGIN_PORT serves for SNI $1: nothing on stdout when it is our certificate and verifies, else
# the reason. Never fails itself (set -e stays on for the caller).
check() {
    local host=$1 out leaf=$work/leaf.pem chain=$work/chain.pem served verified
    # s_client prints the chain the server sent (-showcerts) whatever its own verification says; the checks
    # below are ours. </dev/null: close the session once the handshake is done.
    out=$(timeout "$CONNECT_TIMEOUT" openssl s_client -connect "127.0.0.1:$ORIGIN_PORT" -servername "$host" \
        -showcerts "${client[@]}" </dev/null 2>&1) || true
    # The first certificate is the leaf, the rest what the server sent as intermediates.
    awk -v leaf="$leaf" -v chain="$chain" '
        /-----BEGIN CERTIFICATE-----/ { n++; on = 1 }
        on { print > (n == 1 ? leaf : chain) }
        /-----END CERTIFICATE-----/ { on = 0 }' <<<"$out"
    if [[ ! -s $leaf ]]; then
        echo "no certificate served ($(grep -m1 -iE 'errno|error|refused|alert' <<<"$out" || echo 'no TLS handshake'))"
        rm -f "$leaf" "$chain"
        return 0
    fi
    # The same digest Python takes of the issued certificate's DER (origin_gate.certificate_sha256).
    served=$(openssl x509 -in "$leaf" -outform DER | sha256sum | cut -d' ' -f1)
    local untrusted=()
    [[ ! -s $chain ]] || untrusted=(-untrusted "$chain")
    # What Full (strict) demands of the origin: a chain to the Origin CA root, valid now, naming the hostname.
    verified=$(openssl verify -CAfile "$ca_file" "${untrusted[@]}" -purpose sslserver -verify_hostname "$host" \
        "$leaf" 2>&1) || true
    local problems=()
    if [[ $served != "$EXPECTED_SHA256" ]]; then
        problems+=("serves another certificate ($(openssl x509 -in "$leaf" -noout -subject -issuer | paste -sd ' ' -), sha256 $served, not $EXPECTED_SHA256)")
    fi
    if [[ $verified != *": OK" ]]; then
        problems+=("its chain does not verify against the Origin CA root for $host ($(grep -m1 -i 'error' <<<"$verified" || echo "$verified"))")
    fi
    if ((${#client[@]})); then
        # TLS 1.2, where the client's certificate is part of the handshake, so its outcome is the exit status; in
        # TLS 1.3 a refusal arrives after the client has finished its handshake (and s_client may exit 0 first).
        if ! handshake "$host" "${client[@]}"; then
            problems+=("refuses the probe certificate of the origin-pull CA")
        fi
        if [[ $CLIENT_AUTH == required ]]; then
            if handshake "$host" "${stranger[@]}"; then
                problems+=("accepts a client certificate of another CA: client certificates are not verified")
            fi
            if handshake "$host"; then
                problems+=("answers a client without a certificate: Authenticated Origin Pulls are not enforced")
            fi
        elif ! handshake "$host"; then
            problems+=("refuses a client without a certificate: in phase 1 an edge that does not present ours must be served")
        fi
    fi
    rm -f "$leaf" "$chain"
    if ((${#problems[@]})); then
        local joined
        joined=$(printf '%s; ' "${problems[@]}")
        echo "${joined%; }"
    fi
}

read -r -a names <<<"${HOSTNAMES:?}"
give_up=$((SECONDS + ${DEADLINE:?}))
while :; do
    failures=()
    for host in "${names[@]}"; do
        reason=$(check "$host")
        [[ -z $reason ]] || failures+=("$host: $reason")
    done
    if ((${#failures[@]} == 0)); then
        echo "served-certificate.sh [$NODE_NAME]: 127.0.0.1:$ORIGIN_PORT serves the issued certificate (sha256 $EXPECTED_SHA256) for ${names[*]}"
        exit 0
    fi
    # Whole seconds: the last round starts before the deadline, at most a second early.
    ((SECONDS < give_up)) || break
    sleep "$INTERVAL"
done
for failure in "${failures[@]}"; do
    echo "served-certificate.sh [$NODE_NAME]: $failure" >&2
done
echo "served-certificate.sh [$NODE_NAME]: not served within ${DEADLINE}s; Cloudflare's SSL mode was not changed" >&2
exit 1
