"""The explicit cloud providers every resource takes (no ambient credentials, no default providers)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_hcloud as hcloud

from components.config_model import Credentials


@dataclass(frozen=True)
class Providers:
    hcloud: hcloud.Provider
    """Hetzner Cloud, with the project token."""
    cloudflare: cloudflare.Provider
    """Cloudflare, with the zone token."""


def make_providers(credentials: Credentials) -> Providers:
    return Providers(
        hcloud=hcloud.Provider("hcloud", token=credentials.hcloud_token.output()),
        cloudflare=cloudflare.Provider("cloudflare", api_token=credentials.cloudflare_api_token.output()),
    )


def invoke_options(provider: pulumi.ProviderResource) -> pulumi.InvokeOptions:
    return pulumi.InvokeOptions(provider=provider)
