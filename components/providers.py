"""The explicit providers every resource takes (no ambient credentials, no default providers)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command
import pulumi_hcloud as hcloud
import pulumi_random as random
import pulumi_tls as tls

from components.config.model import Credentials


@dataclass(frozen=True)
class Providers:
    hcloud: hcloud.Provider
    """Hetzner Cloud, with the project token."""
    cloudflare: cloudflare.Provider
    """Cloudflare, with the zone token."""
    tls: tls.Provider
    """Local key and CSR generation."""
    random: random.Provider
    """Local random values (the cluster token)."""
    command: command.Provider
    """Remote commands over SSH."""

    def options(self) -> pulumi.ResourceOptions:
        """Options for a component: its children pick the provider of their package."""
        return pulumi.ResourceOptions(providers=[self.hcloud, self.cloudflare, self.tls, self.random, self.command])


def make_providers(credentials: Credentials) -> Providers:
    return Providers(
        hcloud=hcloud.Provider("hcloud", token=credentials.hcloud_token.output()),
        cloudflare=cloudflare.Provider("cloudflare", api_token=credentials.cloudflare_api_token.output()),
        tls=tls.Provider("tls"),
        random=random.Provider("random"),
        command=command.Provider("command"),
    )
