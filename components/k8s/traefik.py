"""The K3s-bundled Traefik turned into a hostNetwork DaemonSet serving 80/443 on every node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.anatomy import child_options
from components.k8s.client_ip import client_ip_middlewares
from components.k8s.objects import create_object
from components.k8s.traefik_values import helm_chart_config


@dataclass(frozen=True, kw_only=True)
class TraefikArgs:
    cloudflare_cidrs: Sequence[str]
    """The only sources whose X-Forwarded-* headers Traefik trusts, and the only peers it answers on 80/443."""
    tls_secret_name: str | None
    """Default certificate (in kube-system) in full/strict SSL mode, else None."""
    ingress_hostname: str
    """The name Traefik publishes as every Ingress's load-balancer status (the proxied apex)."""


class Traefik(pulumi.ComponentResource):
    """The HelmChartConfig that K3s's helm controller merges into its bundled Traefik chart, and the
    Middlewares its entrypoints run on every request (components/k8s/client_ip.py)."""

    chart_config: pulumi.CustomResource
    middlewares: list[pulumi.CustomResource]
    """The client-address Middlewares, which the HelmChartConfig waits for."""

    def __init__(self, name: str, args: TraefikArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:traefik:Traefik", name, None, opts)
        middlewares = client_ip_middlewares(args.cloudflare_cidrs)
        manifest = helm_chart_config(
            args.cloudflare_cidrs, args.tls_secret_name, ingress_hostname=args.ingress_hostname
        )
        # A Middleware an entrypoint names but Traefik can't find fails every route of the entrypoint: the
        # objects come first, and (dependents are deleted first) the HelmChartConfig never outlives them.
        # pulumi-kubernetes retries a create whose kind is not served yet (provider/pkg/await/await.go Creation:
        # NoMatch errors, 5 retries from 1 s doubling): K3s installs traefik.io's CRDs at first start (traefik-crd).
        self.middlewares = [create_object(m, child_options(self, opts)) for m in middlewares]
        self.chart_config = create_object(manifest, child_options(self, opts, depends_on=self.middlewares))
        self.register_outputs(
            {"name": manifest["metadata"]["name"], "middlewares": [m["metadata"]["name"] for m in middlewares]}
        )
