"""The HelmChartConfig that turns K3s's bundled Traefik into a hostNetwork DaemonSet behind Cloudflare.

Pure data, no Pulumi. K3s installs Traefik from its own HelmChart `traefik` in kube-system; a
HelmChartConfig of the same name and namespace adds `valuesContent` on top of K3s's values. The keys
are those of the Traefik chart K3s 1.34 bundles (chart v3x, Traefik v3), checked against the chart's
values.yaml: `ports.<name>.expose` is a map of Service names (`{default: bool}`), not a bool, and the
pod's DNS policy is `deployment.dnsPolicy` (applied by the chart's pod template as-is).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

import yaml

TRAEFIK_NAMESPACE = "kube-system"


def traefik_values(cloudflare_cidrs: Sequence[str], tls_secret_name: str | None) -> dict[str, Any]:
    """Helm values of the bundled Traefik.

    `tls_secret_name` (full/strict SSL) becomes the default certificate of Traefik's default TLS store.
    That TLSStore lives in Traefik's namespace and can only reference a Secret there: the Secret named
    `tls_secret_name` must exist in kube-system (the component creates it there as well as in the apps'
    namespace, which the Ingress's tls block reads).
    """
    if not cloudflare_cidrs:
        raise ValueError("no Cloudflare ranges: forwarded headers would be trusted from nobody")
    for cidr in cloudflare_cidrs:
        ipaddress.ip_network(cidr)  # a malformed range would stop Traefik at startup on every node
    trusted = list(cloudflare_cidrs)
    values: dict[str, Any] = {
        # One Traefik per node, on the node's own 80/443: no load balancer, no servicelb, no NAT.
        # `deployment.dnsPolicy`, not a top-level `dnsPolicy`: the chart's key. On the host network
        # the default policy would resolve with the node's resolv.conf, blind to cluster Services.
        "deployment": {"kind": "DaemonSet", "dnsPolicy": "ClusterFirstWithHostNet"},
        "hostNetwork": True,
        # With hostNetwork the new pod cannot bind 80/443 while the old one holds them: a surge would
        # never become ready and the rollout would hang. Replace one node's pod at a time instead
        # (the chart itself refuses maxUnavailable < 1 with hostNetwork).
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}},
        # Nodes serve 80/443 themselves; a LoadBalancer Service would only bring servicelb back.
        "service": {"type": "ClusterIP"},
        "ports": {
            # With hostNetwork the container ports are the host's: no hostPort needed (or allowed to differ).
            # Only Cloudflare's edge may set X-Forwarded-*; from anyone else Traefik overwrites them.
            # No PROXY protocol: Cloudflare's HTTP proxy does not send it (only Spectrum does).
            # (Separate lists per entrypoint: the YAML dump then carries no anchors.)
            "web": {"port": 80, "forwardedHeaders": {"trustedIPs": list(trusted), "insecure": False}},
            "websecure": {"port": 443, "forwardedHeaders": {"trustedIPs": list(trusted), "insecure": False}},
            # ping/dashboard (8080) and metrics (9100) still bind on the host: never in a Service, and
            # the node firewall closes both ports from outside.
            "traefik": {"expose": {"default": False}},
            "metrics": {"expose": {"default": False}},
        },
        # Binding 80/443 on the host needs CAP_NET_BIND_SERVICE *effective* in the Traefik process. The
        # image's binary carries no file capability and Kubernetes sets no ambient capabilities, so a
        # non-root process loses an added capability at exec and `listen tcp :80` is denied. Traefik
        # therefore starts as uid 0 with every capability dropped except NET_BIND_SERVICE: root without
        # capabilities cannot override file permissions, change the network or escalate.
        "podSecurityContext": {
            "runAsNonRoot": False,
            "runAsUser": 0,
            "runAsGroup": 0,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            "readOnlyRootFilesystem": True,
        },
        # Not exposed anywhere: no dashboard router and no dashboard at all.
        "api": {"dashboard": False},
        "ingressRoute": {"dashboard": {"enabled": False}},
        "global": {"checkNewVersion": False, "sendAnonymousUsage": False},
    }
    if tls_secret_name is not None:
        values["tlsStore"] = {"default": {"defaultCertificate": {"secretName": tls_secret_name}}}
    return values


def helm_chart_config(cloudflare_cidrs: Sequence[str], tls_secret_name: str | None) -> dict[str, Any]:
    """The helm.cattle.io/v1 HelmChartConfig `traefik` in kube-system carrying `traefik_values`."""
    values = traefik_values(cloudflare_cidrs, tls_secret_name)
    return {
        "apiVersion": "helm.cattle.io/v1",
        "kind": "HelmChartConfig",
        "metadata": {
            # K3s matches the HelmChartConfig to its HelmChart by this exact name and namespace.
            "name": "traefik",
            "namespace": TRAEFIK_NAMESPACE,
            "labels": {
                "app.kubernetes.io/name": "traefik",
                "app.kubernetes.io/instance": "traefik",
                "app.kubernetes.io/component": "ingress-controller",
                "app.kubernetes.io/part-of": "honeydue",
                "app.kubernetes.io/managed-by": "pulumi",
            },
        },
        "spec": {"valuesContent": yaml.safe_dump(values, sort_keys=True)},
    }
