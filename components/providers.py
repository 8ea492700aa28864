"""The explicit providers every resource takes (no default providers).

Hetzner and Cloudflare take their tokens from the run's environment (HCLOUD_TOKEN, CLOUDFLARE_API_TOKEN, set by
the stack's ESC environment), never as inputs: a provider's inputs are written to the state (components/config/
load.py PROVIDER_TOKENS says why and where each is checked)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_cloudflare as cloudflare
import pulumi_command as command
import pulumi_hcloud as hcloud
import pulumi_random as random
import pulumi_tls as tls


@dataclass(frozen=True)
class Providers:
    hcloud: hcloud.Provider
    """Hetzner Cloud: the project token from HCLOUD_TOKEN."""
    cloudflare: cloudflare.Provider
    """Cloudflare: the zone token from CLOUDFLARE_API_TOKEN."""
    tls: tls.Provider
    """Local key and CSR generation."""
    random: random.Provider
    """Local random values (the cluster token)."""
    command: command.Provider
    """Remote commands over SSH."""

    def options(self) -> pulumi.ResourceOptions:
        """Options for a component: its children pick the provider of their package."""
        return pulumi.ResourceOptions(providers=[self.hcloud, self.cloudflare, self.tls, self.random, self.command])


def make_providers() -> Providers:
    return Providers(
        hcloud=hcloud.Provider("hcloud"),
        cloudflare=cloudflare.Provider("cloudflare"),
        tls=tls.Provider("tls"),
        random=random.Provider("random"),
        command=command.Provider("command"),
    )
