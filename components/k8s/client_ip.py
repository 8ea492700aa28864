"""The client address the apps can trust: `CF-Connecting-IP`, and only Cloudflare may deliver it (pure data).

Why this header and not `X-Real-Ip` (docs/client-ip.md has the whole contract for the app team):
- Cloudflare strips a visitor's `X-Real-IP` and sets `CF-Connecting-IP` to the address that connected to it, on
  every proxied request (developers.cloudflare.com/fundamentals/reference/http-headers/); a request header rule
  may not set or modify `x-real-ip`, `x-forwarded-for` or `true-client-ip`, nor modify any `cf-` header
  (developers.cloudflare.com/rules/transform/request-header-modification/). So no Cloudflare rule can put the
  visitor into `X-Real-IP`, and behind Cloudflare Traefik fills `X-Real-Ip` with the edge's own address
  (traefik v3.6.10 pkg/middlewares/forwardedheaders/forwarded_header.go L159-L166).
- Traefik has no step that keeps a header from some peers and drops it from others, except its forwarded-headers
  step over a fixed list without `CF-Connecting-IP` (forwarded_header.go L31-L43, L138-L143); a headers
  middleware sets or deletes for every request (pkg/middlewares/headers/header.go L117-L135); nothing rewrites
  a request's peer address from a header. So the condition is the peer itself: every entrypoint that serves the
  apps answers only Cloudflare's ranges (and the node's own loopback, see LOOPBACK) with 403 for anyone else
  (pkg/middlewares/ipallowlist/ip_allowlist.go L71-L86, the TCP peer: pkg/config/dynamic/middlewares.go
  L447-L450), and every other header an app could take for the client address is deleted.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

NAMESPACE = "kube-system"
"""Traefik's namespace, where K3s runs it (components/k8s/traefik_values.py TRAEFIK_NAMESPACE)."""
CLIENT_IP_HEADER = "CF-Connecting-IP"
"""The one request header the apps read for the client address."""
EDGE_ONLY = "cloudflare-only"
"""The ipAllowList Middleware: 403 for any peer outside Cloudflare's ranges and the node's loopback."""
STRIP = "client-address-headers"
"""The headers Middleware that deletes every other header an app could read as the client address."""

LOOPBACK = ("127.0.0.0/8", "::1/128")
"""Peers on the node itself. `kubectl port-forward` to the hostNetwork Traefik (make smoke) dials localhost inside
the pod's network namespace, the host's (containerd internal/cri/server/sandbox_portforward_linux.go
dialLocalhost). No pod reaches Traefik from loopback: a pod's packets carry its pod address, and pods on other
nodes arrive masqueraded to their node's private address (components/firewall/node_rules.py); only processes in
the node's own network namespace (root on the node, hostNetwork pods of kube-system) do, and they are trusted
with the node already."""

# Each deleted header and why an app could mistake it for the client address. Deleting happens after Traefik's
# forwarded-headers step, for every request (the middleware runs on the router, entry point middlewares first:
# pkg/server/aggregator.go L213). The keys are spelt as Go canonicalises them: Traefik matches X-Forwarded-For
# by exact spelling (header.go L121-L123).
STRIPPED: dict[str, str] = {
    # Set to nil rather than deleted: the proxy then omits it instead of writing Traefik's peer into it (header.go
    # L121-L123; pkg/proxy/fast/proxy.go L219-L227, Go net/http/httputil ReverseProxy, issue 38079). Its left part
    # is whatever the visitor sent (Cloudflare appends, developers.cloudflare.com/fundamentals/reference/
    # http-headers/), and frameworks read it first (Gin's ClientIP, chi's RealIP, Express's trust proxy).
    "X-Forwarded-For": "its left part is the visitor's own text",
    "X-Real-Ip": "behind Cloudflare Traefik's peer, the edge; from a Cloudflare Worker anything it sets",
    "True-Client-Ip": "set by Cloudflare only with its True-Client-IP Managed Transform (off): the visitor's text",
    "Forwarded": "RFC 7239 `for=`: Traefik's forwarded-headers step does not know it, anyone can send it",
    "X-Forwarded": "non-standard, read by request-ip (npm)",
    "Forwarded-For": "non-standard, read by request-ip (npm)",
    "X-Client-Ip": "read by request-ip (npm)",
    "X-Cluster-Client-Ip": "read by request-ip (npm)",
    "Fastly-Client-Ip": "another CDN's header, read by request-ip (npm)",
    "X-Appengine-User-Ip": "another platform's header, read by request-ip (npm)",
    "X-Original-Forwarded-For": "ingress-nginx's copy of X-Forwarded-For",
    "Cf-Connecting-Ipv6": "Cloudflare sets it only with Pseudo IPv4 on; otherwise the visitor's own text",
    "Cf-Pseudo-Ipv4": "Cloudflare sets it only with Pseudo IPv4 on; otherwise the visitor's own text",
    # Traefik keeps X-Forwarded-* from a trusted peer and fills only an empty one (forwarded_header.go L139-L143,
    # L188-L194), and Cloudflare passes every header on: behind Cloudflare these are the visitor's own text. An app
    # building a URL from X-Forwarded-Host (a password-reset link) would build it on the visitor's host; apps use
    # Host, which Traefik passes through. X-Forwarded-Proto stays: Cloudflare sets it to the visitor's scheme.
    "X-Forwarded-Host": "the visitor's own text behind Cloudflare: apps use Host",
    "X-Forwarded-Port": "the visitor's own text behind Cloudflare",
    "X-Forwarded-Prefix": "the visitor's own text behind Cloudflare",
    "X-Forwarded-Uri": "the visitor's own text behind Cloudflare",
    "X-Forwarded-Method": "the visitor's own text behind Cloudflare",
    "X-Forwarded-Server": "Traefik's hostname, or the visitor's own text behind Cloudflare",
    "X-Forwarded-Tls-Client-Cert": "no router passes client certificates: the visitor's own text",
    "X-Forwarded-Tls-Client-Cert-Info": "no router passes client certificates: the visitor's own text",
}


def trusted_networks(cloudflare_cidrs: Sequence[str]) -> list[str]:
    """Cloudflare's ranges, parsed, sorted and without repeats: a reordered list from Cloudflare changes nothing.

    Refuses an empty list (Traefik would then trust, or with the allowlist answer, nobody) and a malformed range,
    which would stop Traefik at startup (forwarded headers) or break every route (the allowlist)."""
    if not cloudflare_cidrs:
        raise ValueError("no Cloudflare ranges: forwarded headers would be trusted from nobody")
    networks = set()
    for cidr in cloudflare_cidrs:
        try:
            networks.add(ipaddress.ip_network(cidr))
        except ValueError as error:
            raise ValueError(f"Cloudflare range {cidr!r} is not a network: {error}") from None
    return [str(n) for n in sorted(networks, key=lambda n: (n.version, n))]


def middleware_ref(name: str) -> str:
    """How an entrypoint names a Middleware object: `<namespace>-<name>@kubernetescrd` (traefik v3.6.10
    pkg/provider/kubernetes/crd/kubernetes.go L247, L1400-L1406, provider name L47; server/provider/provider.go
    L43-L44). A name that resolves to nothing breaks every router of the entrypoint (see client_ip_middlewares)."""
    return f"{NAMESPACE}-{name}@kubernetescrd"


ENTRYPOINT_MIDDLEWARES = (middleware_ref(EDGE_ONLY), middleware_ref(STRIP))
"""The chart's `ports.<web|websecure>.http.middlewares`, in order: refuse first, then delete."""


def _middleware(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "Middleware",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {
                "app.kubernetes.io/name": "traefik",
                "app.kubernetes.io/component": "client-ip",
                "app.kubernetes.io/part-of": "honeydue",
                "app.kubernetes.io/managed-by": "pulumi",
            },
        },
        "spec": spec,
    }


def client_ip_middlewares(cloudflare_cidrs: Sequence[str]) -> list[dict[str, Any]]:
    """The two Middleware objects every request on web and websecure passes (ENTRYPOINT_MIDDLEWARES).

    They must exist before Traefik runs with the entrypoint flags and outlive them: an entrypoint middleware
    that does not exist fails every router of the entrypoint, which then answers 404 to everything
    (pkg/server/middleware/middlewares.go L66-L67, pkg/server/router/router.go L258-L262). The Traefik
    component orders the HelmChartConfig after them; their names never change (a rename would delete the old
    object while the old Traefik pods still name it).
    """
    allowed = [*trusted_networks(cloudflare_cidrs), *LOOPBACK]
    return [
        # No ipStrategy: the peer of the TCP connection, never a header (dynamic/middlewares.go L447-L450).
        _middleware(EDGE_ONLY, {"ipAllowList": {"sourceRange": allowed}}),
        # An empty value deletes the header (header.go L125-L126).
        _middleware(STRIP, {"headers": {"customRequestHeaders": dict.fromkeys(STRIPPED, "")}}),
    ]
