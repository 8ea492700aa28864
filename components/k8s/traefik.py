"""The K3s-bundled Traefik turned into a hostNetwork DaemonSet serving 80/443 on every node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.anatomy import child_options
from components.k8s.objects import create_object
from components.k8s.traefik_values import helm_chart_config


@dataclass(frozen=True, kw_only=True)
class TraefikArgs:
    cloudflare_cidrs: Sequence[str]
    """The only sources whose X-Forwarded-* headers Traefik trusts."""
    tls_secret_name: str | None
    """Default certificate (in kube-system) in full/strict SSL mode, else None."""
    ingress_hostname: str
    """The name Traefik publishes as every Ingress's load-balancer status (the proxied apex)."""


class Traefik(pulumi.ComponentResource):
    """The HelmChartConfig that K3s's helm controller merges into its bundled Traefik chart."""

    chart_config: pulumi.CustomResource

    def __init__(self, name: str, args: TraefikArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:traefik:Traefik", name, None, opts)
        manifest = helm_chart_config(
            args.cloudflare_cidrs, args.tls_secret_name, ingress_hostname=args.ingress_hostname
        )
        self.chart_config = create_object(manifest, child_options(self, opts))
        self.register_outputs({"name": manifest["metadata"]["name"]})
