"""The SSL cut-over: the one place that orders Cloudflare's SSL mode against what the origin serves.

Switching the mode must never drop traffic:
- to flexible, Cloudflare switches to HTTP first, then the origin may stop serving its certificate;
- to full/strict, the origin serves the Origin CA certificate first, then Cloudflare demands HTTPS.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pulumi

from components import naming
from components.config.model import SslMode
from components.edge.tls import EdgeTls, EdgeTlsArgs, OriginCertificate, OriginCertificateArgs

ServeOrigin = Callable[[OriginCertificate | None, Sequence[pulumi.Resource]], Sequence[pulumi.Resource]]
"""Builds what serves the origin, given its certificate (None in flexible mode) and what it must wait for;
returns the resources that serve the certificate (nothing in flexible mode)."""


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


@dataclass(frozen=True)
class Cutover:
    """The edge settings, and the certificate when the mode needs one."""

    edge_tls: EdgeTls
    origin: OriginCertificate | None


def ssl_cutover(args: CutoverArgs, serve_origin: ServeOrigin, cloud: pulumi.ResourceOptions) -> Cutover:
    """Creates the SSL settings and, through `serve_origin`, the origin side, each ordered after the other
    as the mode demands (see the module docstring). `cloud` carries the Cloudflare/TLS providers."""
    tls_args = EdgeTlsArgs(zone_id=args.zone_id, ssl_mode=args.ssl_mode)
    if args.ssl_mode == "flexible":
        edge_tls = EdgeTls(naming.EDGE_TLS, tls_args, cloud)
        serve_origin(None, [edge_tls.ssl_setting])
        return Cutover(edge_tls, None)
    origin = OriginCertificate(
        naming.ORIGIN, OriginCertificateArgs(domain=args.domain, validity_days=args.validity_days), cloud
    )
    serving = serve_origin(origin, [])
    edge_tls = EdgeTls(
        naming.EDGE_TLS, tls_args, pulumi.ResourceOptions.merge(cloud, pulumi.ResourceOptions(depends_on=[*serving]))
    )
    return Cutover(edge_tls, origin)
