"""The K3s-bundled Traefik turned into a hostNetwork DaemonSet serving 80/443 on every node."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from components.anatomy import child_options
from components.k8s.client_ip import client_ip_middlewares
from components.k8s.objects import create_object
from components.k8s.traefik_values import TRAEFIK_NAMESPACE, helm_chart_config

CLIENT_CA_SECRET = "honeydue-origin-pull-ca"
"""The kube-system Secret holding the origin-pull CA (`ca.crt`, nothing else) Traefik verifies clients against."""


def client_ca_secret(name: str = CLIENT_CA_SECRET) -> dict[str, Any]:
    """The Secret's shell: only the CA certificate (`ca.crt`, the key Traefik reads first after `tls.ca`), never a
    private key. Its value comes from the OriginPulls component."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": name,
            "namespace": TRAEFIK_NAMESPACE,
            "labels": {"app.kubernetes.io/part-of": "honeydue", "app.kubernetes.io/managed-by": "pulumi"},
        },
        "type": "Opaque",
        "stringData": {"ca.crt": ""},
    }


@dataclass(frozen=True, kw_only=True)
class TraefikArgs:
    cloudflare_cidrs: Sequence[str]
    """The only sources whose X-Forwarded-* headers Traefik trusts, and the only peers it answers on 80/443."""
    tls_secret_name: str | None
    """Default certificate (in kube-system) in full/strict SSL mode, else None."""
    ingress_hostname: str
    """The name Traefik publishes as every Ingress's load-balancer status (the proxied apex)."""
    client_ca_pem: pulumi.Input[str] | None = None
    """The origin-pull CA (full/strict SSL): a client certificate must be one it signed; None: none is asked for."""
    client_auth_required: bool = False
    """With `client_ca_pem`: every HTTPS client must present such a certificate (originPullsRequired, phase 2)."""


class Traefik(pulumi.ComponentResource):
    """The HelmChartConfig that K3s's helm controller merges into its bundled Traefik chart, the Middlewares its
    entrypoints run on every request (components/k8s/client_ip.py), and in full/strict mode the Secret with the CA
    its default TLSOption verifies clients against."""

    chart_config: pulumi.CustomResource
    middlewares: list[pulumi.CustomResource]
    """The client-address Middlewares, which the HelmChartConfig waits for."""
    client_ca: pulumi.CustomResource | None
    """The CA Secret (full/strict), created before the chart config that names it."""

    def __init__(self, name: str, args: TraefikArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:traefik:Traefik", name, None, opts)
        middlewares = client_ip_middlewares(args.cloudflare_cidrs)
        self.client_ca = None
        if args.client_ca_pem is not None:
            # Before the TLSOption names it: a TLSOption whose Secret is missing fails every handshake
            # (components/k8s/traefik_values.py client_auth_values).
            self.client_ca = create_object(
                client_ca_secret(), child_options(self, opts), string_data={"ca.crt": args.client_ca_pem}
            )
        manifest = helm_chart_config(
            args.cloudflare_cidrs,
            args.tls_secret_name,
            ingress_hostname=args.ingress_hostname,
            client_ca_secret=CLIENT_CA_SECRET if self.client_ca is not None else None,
            client_auth_required=args.client_auth_required,
        )
        # A Middleware an entrypoint names but Traefik can't find fails every route of the entrypoint: the
        # objects come first, and (dependents are deleted first) the HelmChartConfig never outlives them.
        # pulumi-kubernetes retries a create whose kind is not served yet (provider/pkg/await/await.go Creation:
        # NoMatch errors, 5 retries from 1 s doubling): K3s installs traefik.io's CRDs at first start (traefik-crd).
        self.middlewares = [create_object(m, child_options(self, opts)) for m in middlewares]
        self.chart_config = create_object(
            manifest, child_options(self, opts, depends_on=[*self.middlewares, self.client_ca])
        )
        client_auth = "off" if self.client_ca is None else ("required" if args.client_auth_required else "optional")
        self.register_outputs(
            {
                "name": manifest["metadata"]["name"],
                "middlewares": [m["metadata"]["name"] for m in middlewares],
                "clientAuth": client_auth,
            }
        )
