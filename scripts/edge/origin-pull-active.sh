#!/usr/bin/env bash
# After our client certificate is uploaded for zone-level Authenticated Origin Pulls: wait until Cloudflare reports
# it `active`, at most DEADLINE seconds. Upload and deployment are separate: the upload answers at once with
# `pending_deployment`, and the edge presents the certificate only once it is `active` (Cloudflare's API,
# GET /zones/{zone_id}/origin_tls_client_auth/{certificate_id}: initializing, pending_deployment, active, ...). The
# provider does not wait for it (terraform-provider-cloudflare v5.22.0
# internal/services/authenticated_origin_pulls_certificate/resource.go, Create), so until this step has passed,
# Traefik must not require the certificate (components/edge/cutover.py). An active certificate is presented only while
# zone-level Authenticated Origin Pulls are on, so the step also reads that setting (GET
# /zones/{zone_id}/origin_tls_client_auth/settings, result.enabled: Cloudflare's API, Get Enablement Setting for Zone)
# and passes only when it says enabled: true (the setting's PUT answered before this step, but it could have been
# turned off since, by hand or by another run).
#
# Runs where `pulumi up` runs (pulumi-command local.Command): it needs the stack's Cloudflare token, which the run
# has in CLOUDFLARE_API_TOKEN (the ESC environment) and which never becomes an input of the step. The token reaches
# curl on its stdin, never as an argument (the process list).
#
# Inputs (the step's environment): ZONE_ID, CERTIFICATE_ID, DEADLINE, INTERVAL. CLOUDFLARE_API_BASE (tests only)
# replaces https://api.cloudflare.com/client/v4.
set -euo pipefail

: "${CLOUDFLARE_API_TOKEN:?origin-pull-active.sh: CLOUDFLARE_API_TOKEN is not set, the ESC environment of the stack sets it}"
base="${CLOUDFLARE_API_BASE:-https://api.cloudflare.com/client/v4}/zones/${ZONE_ID:?}/origin_tls_client_auth"
url=$base/${CERTIFICATE_ID:?}

# Field $2 of result in the answer to GET $1 (JSON true/false for booleans), or "unreadable (<why>)".
field_now() {
    local body
    if ! body=$(printf 'Authorization: Bearer %s\n' "$CLOUDFLARE_API_TOKEN" |
        curl -sS --max-time 20 --fail-with-body -H @- "$1" 2>&1); then
        echo "unreadable ($(tr -d '\n' <<<"$body" | cut -c1-200))"
        return 0
    fi
    FIELD=$2 python3 -c 'import json, os, sys; v = json.load(sys.stdin)["result"][os.environ["FIELD"]]
print(json.dumps(v) if isinstance(v, bool) else v)' <<<"$body" 2>/dev/null ||
        echo "unreadable (no result.$2 in the answer)"
}

give_up=$((SECONDS + ${DEADLINE:?}))
while :; do
    status=$(field_now "$url" status)
    case $status in
    active)
        enabled=$(field_now "$base/settings" enabled)
        if [[ $enabled == true ]]; then
            echo "origin-pull-active.sh: certificate $CERTIFICATE_ID is active at Cloudflare's edge and zone-level Authenticated Origin Pulls are enabled"
            exit 0
        fi
        status="active, but zone-level Authenticated Origin Pulls are not enabled (settings: $enabled)"
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
