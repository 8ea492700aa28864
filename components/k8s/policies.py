"""NetworkPolicies of the Honeydue namespace: default deny both ways, then one allowance per real flow.

Egress is denied by default too. Every pod sits on the nodes' networks, where etcd (2379), the kubelet
(10250), the Kubernetes API and the Hetzner metadata service (169.254.169.254, which serves the nodes'
user data) answer: an injected request or a compromised dependency in the api must not reach them.
The apps' real destinations are few and fixed by port (DNS, Postgres, SMTP, HTTPS), so allowing
exactly those costs nothing. Outside destinations are IP-less SaaS hosts (Neon, Backblaze B2,
Fastmail), so egress is by port to the internet with the cluster's own ranges carved out.

K3s enforces these with its embedded kube-router controller, which matches after the service DNAT
(policies name pod ports) and always admits traffic from a pod's own node (kubelet probes).
"""

from __future__ import annotations

from typing import Any

from components.k8s.spec import (
    ADMIN,
    ADMIN_PORT,
    API,
    API_PORT,
    PART_OF,
    REDIS,
    REDIS_PORT,
    WORKER,
    AppsSpec,
    Manifest,
    labels,
    metadata,
    selector,
)

POSTGRES_PORT = 5432
HTTPS_PORT = 443
LINK_LOCAL = "169.254.0.0/16"


def _policy(spec: AppsSpec, name: str, pod_selector: dict[str, Any], body: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(name, spec.apps.namespace, labels(PART_OF, "network-policy", spec.apps.namespace)),
        "spec": {"podSelector": pod_selector} | body,
    }


def _pods(spec: AppsSpec, *names: str) -> dict[str, Any]:
    if len(names) == 1:
        return {"matchLabels": selector(names[0], spec.apps.namespace)}
    return {
        "matchLabels": {"app.kubernetes.io/instance": spec.apps.namespace},
        "matchExpressions": [{"key": "app.kubernetes.io/name", "operator": "In", "values": list(names)}],
    }


def _tcp(*ports: int | str) -> list[dict[str, Any]]:
    return [{"protocol": "TCP", "port": port} for port in ports]


def _traefik_sources(spec: AppsSpec) -> list[dict[str, Any]]:
    # Traefik runs on the host network, so its connections carry node addresses: the node's flannel
    # interface address (inside the pod CIDR) towards pods on other nodes, the node's private address
    # with a host-routed backend. This admits other pods too; api and admin are public anyway.
    return [{"ipBlock": {"cidr": cidr}} for cidr in (spec.cluster_cidr, *spec.node_cidrs)]


def _internet(spec: AppsSpec) -> dict[str, Any]:
    """Any IPv4 address except the pod network, the nodes' networks and link-local (metadata)."""
    return {"ipBlock": {"cidr": "0.0.0.0/0", "except": [spec.cluster_cidr, *spec.node_cidrs, LINK_LOCAL]}}


def network_policies(spec: AppsSpec) -> list[Manifest]:
    """Default deny (ingress and egress), then DNS, Traefik → api/admin, admin → api, api/worker → redis,
    and the outside services: api/worker → Postgres, SMTP, HTTPS (B2); admin → HTTPS."""
    everyone: dict[str, Any] = {}
    return [
        _policy(spec, "default-deny", everyone, {"policyTypes": ["Ingress", "Egress"]}),
        _policy(
            spec,
            "allow-dns",
            everyone,
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {
                        "to": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                                "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                            }
                        ],
                        "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                    }
                ],
            },
        ),
        _policy(
            spec,
            "api-ingress",
            _pods(spec, API),
            {
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": _traefik_sources(spec), "ports": _tcp(API_PORT)},
                    {"from": [{"podSelector": _pods(spec, ADMIN)}], "ports": _tcp(API_PORT)},
                ],
            },
        ),
        _policy(
            spec,
            "admin-ingress",
            _pods(spec, ADMIN),
            {"policyTypes": ["Ingress"], "ingress": [{"from": _traefik_sources(spec), "ports": _tcp(ADMIN_PORT)}]},
        ),
        _policy(
            spec,
            "redis-ingress",
            _pods(spec, REDIS),
            {
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": _pods(spec, API, WORKER)}], "ports": _tcp(REDIS_PORT)}],
            },
        ),
        _policy(
            spec,
            "backend-egress",
            _pods(spec, API, WORKER),
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"podSelector": _pods(spec, REDIS)}], "ports": _tcp(REDIS_PORT)},
                    {"to": [_internet(spec)], "ports": _tcp(POSTGRES_PORT, spec.services.smtp_port, HTTPS_PORT)},
                ],
            },
        ),
        _policy(
            spec,
            "admin-egress",
            _pods(spec, ADMIN),
            {
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"podSelector": _pods(spec, API)}], "ports": _tcp(API_PORT)},
                    # Server-side rendering may call the api by its public URL, through Cloudflare.
                    {"to": [_internet(spec)], "ports": _tcp(HTTPS_PORT)},
                ],
            },
        ),
    ]
