"""Cloudflare's published edge ranges, the only sources of 80/443 under origin lockdown."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare


@dataclass(frozen=True)
class EdgeRanges:
    cidrs: tuple[str, ...]
    """IPv4 and IPv6 ranges, as published."""
    etag: str
    """Changes when Cloudflare publishes new ranges; drives the firewall re-apply."""


def cloudflare_edge_ranges(provider: cloudflare.Provider) -> EdgeRanges:
    result = cloudflare.get_ip_ranges(opts=pulumi.InvokeOptions(provider=provider))
    return EdgeRanges(cidrs=tuple(result.ipv4_cidrs) + tuple(result.ipv6_cidrs), etag=result.etag)
