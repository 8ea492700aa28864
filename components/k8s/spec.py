"""What the Kubernetes layer is built from: the typed config it reads, names, ports and label helpers.

Pure data, no Pulumi. `AppsSpec` holds the validated config objects themselves (never copies of their
fields) plus what the cluster adds; the builders in workloads, policies and manifests read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.config.model import AppsConfig, ServicesConfig

Manifest = dict[str, Any]

PART_OF = "honeydue"
API, ADMIN, WORKER, REDIS = "api", "admin", "worker", "redis"
CONFIGMAP = "honeydue-config"
APP_SECRET = "honeydue-app"
REDIS_SECRET = "honeydue-redis"
REGISTRY_SECRET = "honeydue-registry"

API_PORT = 8080
ADMIN_PORT = 3000
REDIS_PORT = 6379
# The api, admin and worker images are expected to run as any non-root uid (distroless `nonroot` is
# 65532, above 10000: outside the range of any host account, so a container escape lands on no one).
# A numeric uid is required: with runAsNonRoot the kubelet refuses a non-numeric image USER such as
# Next.js's `nextjs`, since it cannot prove it is not root.
APP_UID = 65532
# Redis keeps the image's `redis` uid (999), deliberately below 10000: its data lives on K3s'
# local-path volume, a hostPath volume to which the kubelet never applies fsGroup (k3s-io/k3s#6401,
# rancher/local-path-provisioner#41), and the running AOF files were written by 999 under umask 0077.
# Another uid could not read them after the rollout; new volumes are created 0777 and would work.
# (The container's command bypasses the image entrypoint, so its chown/gosu step never runs.)
REDIS_UID = 999
# Spread over the startup probe's period: failureThreshold × 5 s is the startup budget
# (api: 48 × 5 s = 240 s, the advisory-lock migration; admin: 24 × 5 s = 120 s).
STARTUP_PERIOD_SECONDS = 5


@dataclass(frozen=True, kw_only=True)
class AppsSpec:
    """Plain values the Kubernetes layer is built from: the validated config and what the cluster adds."""

    apps: AppsConfig
    """The workloads' config (namespace, hostnames, images, replicas, probes, storage)."""
    services: ServicesConfig
    """Outside services; builders read only their non-secret fields (hosts, ports, bucket). Secret values
    reach the cluster through the Apps component as secret Outputs, never through a builder."""
    cluster_cidr: str
    """Pod network; hostNetwork Traefik reaches remote pods from its node's flannel address in it."""
    node_cidrs: tuple[str, ...]
    """Nodes' private network(s): hostNetwork Traefik traffic may arrive from these addresses."""
    tls_secret_name: str | None
    """None in flexible SSL mode; in full/strict the kubernetes.io/tls Secret with the Origin CA cert."""


def labels(name: str, component: str, instance: str) -> dict[str, str]:
    """The recommended app.kubernetes.io labels."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(name: str, instance: str) -> dict[str, str]:
    """The immutable subset of `labels` that selects a workload's pods."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}


def metadata(name: str, namespace: str | None, object_labels: dict[str, str]) -> dict[str, Any]:
    """Object metadata: the name, the namespace where namespaced, the labels."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(object_labels)
    return meta
