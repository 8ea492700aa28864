#!/usr/bin/env bash
# Wait until this node serves the site: its Traefik (hostNetwork, the only process that can hold the node's
# port 80) answers the apex's landing page with 2xx, at most SERVING_TIMEOUT seconds. The node's
# proxied DNS records are created, or come back after a release, only after this step
# (components/edge/serving.py), so Cloudflare never sends a request to a node that does not serve yet.
#
# Inputs (assigned by the remote command before this text): SERVING_HOST (the Host header), SERVING_TIMEOUT
# and POLL_INTERVAL in seconds. SERVING_URL (default http://127.0.0.1/) lets tests point it at a fixture.
set -euo pipefail

url=${SERVING_URL:-http://127.0.0.1/}
deadline=$((SECONDS + SERVING_TIMEOUT))
last="nothing answered"
while :; do
    # -w prints 000 when no HTTP answer came (refused, reset, timeout); curl's exit code is not needed.
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Host: $SERVING_HOST" "$url" || true)
    case $code in
    # 2xx only, like the load balancer's monitor (components/edge/balancer.py) and `make smoke`: a redirect would
    # send the monitor elsewhere, so a landing page that redirects is not served here.
    2??)
        echo "wait-serving.sh: $SERVING_HOST answers $code on this node"
        exit 0
        ;;
    000) last="nothing answered on $url" ;;
    *) last="$url answered $code for $SERVING_HOST" ;;
    esac
    if ((SECONDS >= deadline)); then
        echo "wait-serving.sh: ERROR: this node does not serve $SERVING_HOST after ${SERVING_TIMEOUT}s: $last" >&2
        exit 1
    fi
    sleep "$POLL_INTERVAL"
done
