"""A model of the request headers an app receives through Cloudflare and K3s's Traefik (tests/test_client_ip_chain.py).

A model, not the real thing: no Traefik binary can be had here (neither PyPI nor npm ships one), so each step
below restates an upstream rule at the versions the program pins, and cites it:
- Cloudflare's proxy, from its documentation (https://developers.cloudflare.com/fundamentals/reference/http-headers/);
- Traefik v3.6.10 (commit 043583490b0a), the image K3s v1.34.6 runs: k3s manifests/traefik.yaml at the
  v1.34.6-k3s1 commit aec5b32a7 names chart traefik-39.0.501+up39.0.5 and image tag 3.6.10;
- Go's net/http (Traefik builds its proxy on net/http/httputil.ReverseProxy).
It is driven by what the program renders: the entrypoints' trusted ranges and middleware names from the
HelmChartConfig's values, the Middleware objects by their names.

What it does not cover: TLS and SNI, routing by host and path (every admitted request reaches one app router),
Connection-header hop-by-hop removal and WebSocket upgrades (forwarded_header.go L207-L248), X-Forwarded-Host,
-Port and -Server beyond their presence, PROXY protocol (not configured: server_entrypoint_tcp.go L519-L520),
HTTP/2, invalid Middleware specs, Cloudflare Workers, Transform Rules and Pseudo IPv4.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Headers = dict[str, list[str] | None]
"""Canonical header name -> values; None is Go's nil slice, which a proxy leaves out (header.go L121-L123)."""

TRAEFIK = "traefik/traefik v3.6.10 "
# forwarded_header.go L31-L43: the headers deleted when the peer is not trusted.
X_HEADERS = (
    "X-Forwarded-Proto", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Port", "X-Forwarded-Server",
    "X-Forwarded-Uri", "X-Forwarded-Method", "X-Forwarded-Prefix", "X-Forwarded-Tls-Client-Cert",
    "X-Forwarded-Tls-Client-Cert-Info", "X-Real-Ip",
)  # fmt: skip


def canonical(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey for token names: the server stores every request header this way
    (net/textproto reader.go ReadMIMEHeader), and http.Header.Del/Set canonicalise their key too."""
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    # pkg/ip/checker.go L94-L101 parses with netip and compares 16-byte forms; Go's IPNet.Contains then matches
    # an IPv4-mapped IPv6 address against IPv4 networks (net/ip.go, IPNet.Contains: ip.To4()).
    address = ipaddress.ip_address(text.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def in_ranges(ranges: Sequence[str], peer: str) -> bool:
    """pkg/ip/checker.go L18-L39 (a bare IP or a CIDR per entry) and L78-L92 (any match)."""
    address = _address(peer)
    for entry in ranges:
        network = ipaddress.ip_network(entry, strict=False)
        if network.version == address.version and address in network:
            return True
    return False


@dataclass(frozen=True)
class Request:
    peer: str
    """The TCP peer Traefik sees (RemoteAddr): nothing in Traefik rewrites it from a header (the PROXY protocol
    listener, not configured here, is the only thing that could: server_entrypoint_tcp.go L442-L520)."""
    headers: Headers
    tls: bool = False
    host: str = "honeydue.app"


@dataclass(frozen=True)
class Outcome:
    status: int
    headers: dict[str, list[str]] = field(default_factory=dict)
    """What the app receives (200 only)."""


def visitor_through_cloudflare(visitor: str, edge: str, sent: Mapping[str, str], *, https: bool) -> Request:
    """Cloudflare's proxy (developers.cloudflare.com/fundamentals/reference/http-headers/): it passes every
    request header on, strips x-real-ip when no Worker subrequest is involved, sets CF-Connecting-IP to the
    address that connected to it, appends that address to X-Forwarded-For (or creates it), and sets
    X-Forwarded-Proto to the visitor's scheme. In Flexible mode it reaches the origin over HTTP."""
    headers: Headers = {canonical(k): [v] for k, v in sent.items()}
    headers.pop("X-Real-Ip", None)
    headers["Cf-Connecting-Ip"] = [visitor]
    prior = headers.get("X-Forwarded-For") or []
    headers["X-Forwarded-For"] = [", ".join([*prior, visitor])]
    headers["X-Forwarded-Proto"] = ["https" if https else "http"]
    return Request(peer=edge, headers=headers)


def direct(peer: str, sent: Mapping[str, str], *, tls: bool = False) -> Request:
    """A peer that talks to Traefik itself (a pod, a node, the node's own loopback, anyone on the internet)."""
    return Request(peer=peer, headers={canonical(k): [v] for k, v in sent.items()}, tls=tls)


def _get(headers: Headers, key: str) -> str:
    values = headers.get(key)
    return values[0] if values else ""  # forwarded_header.go L258-L263


def forwarded_headers(request: Request, trusted: Sequence[str], headers: Headers) -> None:
    """pkg/middlewares/forwardedheaders/forwarded_header.go ServeHTTP L138-L150 and rewrite L159-L205,
    wired before any router on every entrypoint (pkg/server/server_entrypoint_tcp.go L640-L644)."""
    if not (trusted and in_ranges(trusted, request.peer)):  # L139, isTrustedIP L152-L157
        for name in X_HEADERS:  # L140-L142
            headers.pop(name, None)
    if not _get(headers, "X-Real-Ip"):  # L160-L166: only when empty
        headers["X-Real-Ip"] = [request.peer.split("%", 1)[0]]
    if not _get(headers, "X-Forwarded-Proto"):  # L168-L186 (WebSocket schemes left out)
        headers["X-Forwarded-Proto"] = ["https" if request.tls else "http"]
    if not _get(headers, "X-Forwarded-Port"):  # L188-L190, forwardedPort L117-L135
        https = _get(headers, "X-Forwarded-Proto") in ("https", "wss") or request.tls
        headers["X-Forwarded-Port"] = ["443" if https else "80"]
    if not _get(headers, "X-Forwarded-Host"):  # L192-L194
        headers["X-Forwarded-Host"] = [request.host]
    if headers.get("X-Forwarded-For"):  # L198-L200: several headers folded into one
        headers["X-Forwarded-For"] = [", ".join(headers["X-Forwarded-For"] or [])]
    headers["X-Forwarded-Server"] = ["traefik-node"]  # L202-L204


def custom_request_headers(config: Mapping[str, str], headers: Headers) -> None:
    """pkg/middlewares/headers/header.go modifyCustomRequestHeaders L117-L135."""
    for name, value in config.items():
        if value == "" and name == "X-Forwarded-For":  # L122-L123: the exact spelling, set to nil
            headers[name] = None
        elif value == "":  # L125-L126: Header.Del canonicalises
            headers.pop(canonical(name), None)
        else:  # L131-L132 (Host, L128-L129, is not used here)
            headers[canonical(name)] = [value]


def proxy(request: Request, headers: Headers) -> dict[str, list[str]]:
    """What the service proxy sends: Traefik's httputil proxy is Go's ReverseProxy with a Director
    (pkg/proxy/httputil/proxy.go L30-L39), which appends the peer to X-Forwarded-For unless the header is nil
    (net/http/httputil/reverseproxy.go, "Issue 38079: nil now means don't populate the header"; Traefik's fast
    proxy does the same, pkg/proxy/fast/proxy.go L215-L227). A nil header is not written at all."""
    peer = request.peer.split("%", 1)[0]
    if "X-Forwarded-For" in headers and headers["X-Forwarded-For"] is None:
        pass
    elif headers.get("X-Forwarded-For"):
        headers["X-Forwarded-For"] = [", ".join([*(headers["X-Forwarded-For"] or []), peer])]
    else:
        headers["X-Forwarded-For"] = [peer]
    return {name: values for name, values in headers.items() if values is not None}


class Traefik:
    """One node's Traefik with the rendered values and Middleware objects."""

    def __init__(self, values: Mapping[str, Any], middlewares: Sequence[Mapping[str, Any]]) -> None:
        self.ports = values["ports"]
        # The CRD provider names a Middleware <namespace>-<name>@kubernetescrd (crd/kubernetes.go L247,
        # L1400-L1406, L47; server/provider/provider.go L43-L44).
        self.middlewares = {
            f"{m['metadata']['namespace']}-{m['metadata']['name']}@kubernetescrd": m["spec"] for m in middlewares
        }

    def serve(self, entrypoint: str, request: Request) -> Outcome:
        port = self.ports[entrypoint]
        forwarded = port.get("forwardedHeaders", {})
        assert not forwarded.get("insecure"), "insecure trusts everyone (forwarded_header.go L139)"
        headers: Headers = {k: (list(v) if v is not None else None) for k, v in request.headers.items()}
        forwarded_headers(request, forwarded.get("trustedIPs", []), headers)
        # The entrypoint's middlewares come before the router's own (pkg/server/aggregator.go L213), in order.
        for ref in port.get("http", {}).get("middlewares", []):
            spec = self.middlewares.get(ref)
            if spec is None:
                # middlewares.go L66-L67: the chain fails, router.go L258-L262 drops the router; the
                # entrypoint's default handler answers 404 (router.go L230-L235).
                return Outcome(404)
            if "ipAllowList" in spec:
                rule = spec["ipAllowList"]
                assert "ipStrategy" not in rule, "the model knows only the TCP peer (dynamic/middlewares.go L447)"
                if not in_ranges(rule["sourceRange"], request.peer):  # ip_allowlist.go L75-L82
                    return Outcome(rule.get("rejectStatusCode") or 403)  # L38-L41
            if "headers" in spec:
                custom_request_headers(spec["headers"].get("customRequestHeaders", {}), headers)
        return Outcome(200, proxy(request, headers))
