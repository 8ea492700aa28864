"""K3sNodeSettings for tests: node fields and cluster fields (K3sConfig) given side by side."""

from __future__ import annotations

import dataclasses
from typing import Any

from components.config.model import K3sConfig
from components.k3s.node import K3sNodeSettings

CLUSTER_FIELDS = frozenset(f.name for f in dataclasses.fields(K3sConfig))
CLUSTER = K3sConfig(
    version="v1.34.6+k3s1",
    cluster_cidr="10.42.0.0/16",
    service_cidr="10.43.0.0/16",
    kube_proxy_mode="ipvs",
    flannel_backend="vxlan",
    api_dns_name=None,
    etcd_snapshot_schedule="0 */6 * * *",
    etcd_snapshot_retention=20,
    etcd_s3=None,
)


def node_settings(values: dict[str, Any]) -> K3sNodeSettings:
    """Settings from one flat dict: keys of K3sConfig go into `cluster`, the rest onto the node."""
    cluster = {k: v for k, v in values.items() if k in CLUSTER_FIELDS}
    node = {k: v for k, v in values.items() if k not in CLUSTER_FIELDS}
    return K3sNodeSettings(cluster=dataclasses.replace(CLUSTER, **cluster), **node)
