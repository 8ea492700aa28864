#!/usr/bin/env bash
# After our client certificate is uploaded for zone-level Authenticated Origin Pulls: wait until Cloudflare reports
# it `active`, at most DEADLINE seconds. Upload and deployment are separate: the upload answers at once with
# `pending_deployment`, and the edge presents the certificate only once it is `active` (Cloudflare's API,
# GET /zones/{zone_id}/origin_tls_client_auth/{certificate_id}: initializing, pending_deployment, active, ...). The
# provider does not wait for it (terraform-provider-cloudflare v5.22.0
# internal/services/authenticated_origin_pulls_certificate/resource.go, Create), so until this step has passed,
# Traefik must not require the certificate (components/edge/cutover.py).
#
# Runs where `pulumi up` runs (pulumi-command local.Command): it needs the stack's Cloudflare token, which the run
# has in CLOUDFLARE_API_TOKEN (the ESC environment) and which never becomes an input of the step. The token reaches
# curl on its stdin, never as an argument (the process list).
#
# Inputs (the step's environment): ZONE_ID, CERTIFICATE_ID, DEADLINE, INTERVAL. CLOUDFLARE_API_BASE (tests only)
# replaces https://api.cloudflare.com/client/v4.
set -euo pipefail

: "${CLOUDFLARE_API_TOKEN:?origin-pull-active.sh: CLOUDFLARE_API_TOKEN is not set, the ESC environment of the stack sets it}"
url="${CLOUDFLARE_API_BASE:-https://api.cloudflare.com/client/v4}/zones/${ZONE_ID:?}/origin_tls_client_auth/${CERTIFICATE_ID:?}"

# The certificate's status, or "unreadable (<why>)".
status_now() {
    local body
    if ! body=$(printf 'Authorization: Bearer %s\n' "$CLOUDFLARE_API_TOKEN" |
        curl -sS --max-time 20 --fail-with-body -H @- "$url" 2>&1); then
        echo "unreadable ($(tr -d '\n' <<<"$body" | cut -c1-200))"
        return 0
    fi
    python3 -c 'import json, sys; print(json.load(sys.stdin)["result"]["status"])' <<<"$body" 2>/dev/null ||
        echo "unreadable (no result.status in the answer)"
}

give_up=$((SECONDS + ${DEADLINE:?}))
while :; do
    status=$(status_now)
    case $status in
    active)
        echo "origin-pull-active.sh: certificate $CERTIFICATE_ID is active at Cloudflare's edge"
        exit 0
        ;;
    deployment_timed_out | deleted | pending_deletion | deletion_timed_out)
        echo "origin-pull-active.sh: certificate $CERTIFICATE_ID is $status: it will not become active" >&2
        exit 1
        ;;
    esac
    ((SECONDS < give_up)) || break
    sleep "${INTERVAL:?}"
done
echo "origin-pull-active.sh: certificate $CERTIFICATE_ID is still $status after ${DEADLINE}s; Traefik was not told to require it" >&2
exit 1
