"""Cloudflare in front of the nodes: the zone lookup, and the edge components in one import.

The records are built in `edge.dns`, the SSL/TLS settings and the Origin CA certificate in `edge.tls`.
"""

from __future__ import annotations

import pulumi
import pulumi_cloudflare as cloudflare

from components.edge.dns import EdgeDns, EdgeDnsArgs, dns_records, host_label, managed_comment
from components.edge.tls import EdgeTls, EdgeTlsArgs, OriginCertificate, OriginCertificateArgs, zone_settings

__all__ = [
    "EdgeDns",
    "EdgeDnsArgs",
    "EdgeTls",
    "EdgeTlsArgs",
    "OriginCertificate",
    "OriginCertificateArgs",
    "cloudflare_zone_id",
    "dns_records",
    "host_label",
    "managed_comment",
    "zone_settings",
]


def cloudflare_zone_id(provider: cloudflare.Provider, domain: str, zone_id: str | None) -> pulumi.Input[str]:
    """The configured zone id, else the id of the zone named `domain` (looked up through `provider`)."""
    if zone_id:
        return zone_id
    zone = cloudflare.get_zone(filter={"name": domain}, opts=pulumi.InvokeOptions(provider=provider))
    looked_up: str = zone.id
    return looked_up
