"""The SSL cut-over: the one place that orders Cloudflare's SSL mode against what the origin serves.

Switching the mode must never drop traffic:
- to flexible, Cloudflare switches to HTTP first, then the origin may stop serving its certificate and stop
  requiring a client certificate, then Cloudflare's Authenticated Origin Pulls are switched off;
- to full/strict, Cloudflare presents our client certificate first (uploaded, origin pulls on, deployed at the
  edge: edge/origin_pulls.py), then the origin requires it and serves the Origin CA certificate, then Cloudflare
  demands HTTPS. "Serves" is checked, not assumed: Kubernetes accepting the objects is not Traefik serving them, so
  the switch waits for a gate step per server that finds the issued certificate served for every hostname, our
  probe certificate accepted and a client without one refused (edge/origin_gate.py).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import pulumi

from components import naming
from components.anatomy import NodeTarget
from components.config.model import SslMode
from components.edge.origin_gate import OriginGate, OriginGateArgs
from components.edge.origin_pulls import OriginPulls, OriginPullsArgs
from components.edge.tls import EdgeTls, EdgeTlsArgs, OriginCertificate, OriginCertificateArgs

ServeOrigin = Callable[
    [OriginCertificate | None, OriginPulls | None, Sequence[pulumi.Resource]], Sequence[pulumi.Resource]
]
"""Builds what serves the origin, given its certificate and the origin pulls whose CA it must require (both None in
flexible mode) and what all of it must wait for; what requires the client certificate (Traefik) must also wait for
`pulls.ready`, so the origin demands it only once Cloudflare's edge presents it. Returns what serves the origin
(Traefik, and in full/strict the TLS objects)."""


@dataclass(frozen=True, kw_only=True)
class CutoverArgs:
    zone_id: pulumi.Input[str]
    """Cloudflare zone id."""
    ssl_mode: SslMode
    """The wanted SSL mode."""
    domain: str
    """The zone; the Origin CA certificate covers it and its wildcard."""
    validity_days: int
    """Validity of the Origin CA certificate (full/strict)."""
    hostnames: Sequence[str]
    """The public hostnames the gate checks on every server (full/strict)."""
    gate_targets: Mapping[str, NodeTarget]
    """The servers DNS points at, by node name, each `after` its K3s converged: where the gate runs."""


@dataclass(frozen=True)
class Cutover:
    """The edge settings, and the certificate when the mode needs one."""

    edge_tls: EdgeTls
    origin: OriginCertificate | None
    gate: OriginGate | None
    """The served-certificate check the switch to full/strict waited for (None in flexible mode)."""
    pulls: OriginPulls
    """Authenticated Origin Pulls: on with our CA in full/strict, off in flexible."""


def ssl_cutover(args: CutoverArgs, serve_origin: ServeOrigin, cloud: pulumi.ResourceOptions) -> Cutover:
    """Creates the SSL settings and, through `serve_origin`, the origin side, each ordered after the other
    as the mode demands (see the module docstring). `cloud` carries the Cloudflare/TLS/command providers."""
    tls_args = EdgeTlsArgs(zone_id=args.zone_id, ssl_mode=args.ssl_mode)
    if args.ssl_mode == "flexible":
        edge_tls = EdgeTls(naming.EDGE_TLS, tls_args, cloud)
        served = serve_origin(None, None, [edge_tls.ssl_setting])
        # Off only once Traefik was told to stop requiring client certificates (HTTP needs none anyway).
        pulls = OriginPulls(
            naming.ORIGIN_PULLS,
            OriginPullsArgs(zone_id=args.zone_id, domain=args.domain, enabled=False),
            pulumi.ResourceOptions.merge(cloud, pulumi.ResourceOptions(depends_on=[*served])),
        )
        return Cutover(edge_tls, None, None, pulls)
    origin = OriginCertificate(
        naming.ORIGIN, OriginCertificateArgs(domain=args.domain, validity_days=args.validity_days), cloud
    )
    pulls = OriginPulls(
        naming.ORIGIN_PULLS, OriginPullsArgs(zone_id=args.zone_id, domain=args.domain, enabled=True), cloud
    )
    # Traefik requires our client certificate only once Cloudflare's edge presents it (pulls.ready, in serve_origin).
    serving = serve_origin(origin, pulls, [])
    gate = OriginGate(
        naming.ORIGIN_GATE,
        OriginGateArgs(
            hostnames=args.hostnames,
            certificate_pem=origin.certificate_pem,
            ssl_mode=args.ssl_mode,
            targets=args.gate_targets,
            probe=pulls.probe,
        ),
        pulumi.ResourceOptions.merge(cloud, pulumi.ResourceOptions(depends_on=[*serving])),
    )
    edge_tls = EdgeTls(
        naming.EDGE_TLS,
        tls_args,
        pulumi.ResourceOptions.merge(cloud, pulumi.ResourceOptions(depends_on=[*serving, *gate.steps])),
    )
    return Cutover(edge_tls, origin, gate, pulls)
