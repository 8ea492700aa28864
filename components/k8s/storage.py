"""Redis's data off the node: the hcloud CSI driver and a StorageClass of Hetzner Cloud Volumes.

Pure: plain values in, manifests out. The driver's objects are upstream's own release manifest,
vendored byte for byte (`vendor/hcloud-csi-v2.22.1.yml` is `deploy/kubernetes/hcloud-csi.yml` at tag
v2.22.1, commit 3186e78786031b759e875315a64eb79869f277e4 of github.com/hetznercloud/csi-driver), so a
version bump is a reviewed file swap. Its default StorageClass (reclaimPolicy Delete, and a second
default next to K3s's local-path) is replaced by ours.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from components.k8s.spec import Manifest, labels, metadata

CSI_VERSION = "v2.22.1"
CSI_MANIFEST = Path(__file__).parent / "vendor" / f"hcloud-csi-{CSI_VERSION}.yml"
CSI_NAMESPACE = "kube-system"
# The controller reads HCLOUD_TOKEN from Secret `hcloud`, key `token` (the vendored Deployment).
CSI_SECRET = "hcloud"
CSI_SECRET_KEY = "token"
PROVISIONER = "csi.hetzner.cloud"
STORAGE_CLASS = "hcloud-volumes-retain"
_UPSTREAM_STORAGE_CLASS = "hcloud-volumes"


def _without_nulls(value: Any) -> Any:
    """Upstream's template leaves `initContainers:` empty (null); the API drops it, strict schemas don't."""
    if isinstance(value, dict):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


# Upstream leaves every container's resources empty ({}): on three nodes that also run etcd, one leak
# must not starve a node (policy workload-resources-and-readiness). The driver does the API calls and
# mkfs/mount; the sidecars only relay over the CSI socket.
DRIVER_CONTAINER = "hcloud-csi-driver"
_DRIVER_RESOURCES = {"requests": {"cpu": "10m", "memory": "40Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}}
_SIDECAR_RESOURCES = {"requests": {"cpu": "10m", "memory": "20Mi"}, "limits": {"cpu": "100m", "memory": "128Mi"}}


def _with_resources(document: Manifest) -> Manifest:
    """Resources on every container of the driver's workloads; readiness of the controller's driver on
    the same /healthz its liveness uses (served by the livenessprobe sidecar, which asks the driver
    over the CSI socket)."""
    if document["kind"] not in ("Deployment", "DaemonSet"):
        return document
    for container in document["spec"]["template"]["spec"]["containers"]:
        driver = container["name"] == DRIVER_CONTAINER
        container["resources"] = _DRIVER_RESOURCES if driver else _SIDECAR_RESOURCES
        if driver and document["kind"] == "Deployment":
            container["readinessProbe"] = {
                "httpGet": {"path": "/healthz", "port": "healthz"},
                "periodSeconds": 10,
                "timeoutSeconds": 3,
                "failureThreshold": 3,
            }
    return document


NODE_PLUGIN = "hcloud-csi-node"
LOCATION_ENV = "HCLOUD_VOLUME_DEFAULT_LOCATION"


def _node_plugin_on_host_network(document: Manifest) -> Manifest:
    """The node plugin in the host's network namespace.

    It reads its server id only from the metadata service (csi-driver v2.22.1 cmd/main.go:102,
    `metadataClient.InstanceIDWithContext`; no environment override, unlike the location), and the node
    firewall keeps pods off that service (components/firewall/prefilter.py), so in the pod network it
    would exit at start and no volume would attach. In the host network it is what it already was, a
    privileged root process on the node, and the firewall lets root there reach the metadata service.
    Its own ports (metrics 9189, healthz 9808) are then the host's: the node firewall closes them from
    outside and from pods.
    """
    if document["kind"] == "DaemonSet" and document["metadata"]["name"] == NODE_PLUGIN:
        pod = document["spec"]["template"]["spec"]
        pod["hostNetwork"] = True
        # Cluster DNS stays reachable from the host network (the driver resolves the Hetzner API).
        pod["dnsPolicy"] = "ClusterFirstWithHostNet"
    return document


def _with_location(document: Manifest, location: str) -> Manifest:
    """The location of new volumes given to the driver (node and controller) instead of looked up.

    Unset, the controller finds it through the API by the Kubernetes node name (which must then equal the
    Hetzner server name) and falls back to the metadata service, which pods don't reach; the node plugin
    reads it from the metadata service (csi-driver v2.22.1 internal/app/app.go GetServerLocation, which
    takes HCLOUD_VOLUME_DEFAULT_LOCATION first).
    """
    if document["kind"] in ("Deployment", "DaemonSet"):
        for container in document["spec"]["template"]["spec"]["containers"]:
            if container["name"] == DRIVER_CONTAINER:
                container["env"] = [
                    *(e for e in container.get("env", []) if e["name"] != LOCATION_ENV),
                    {"name": LOCATION_ENV, "value": location},
                ]
    return document


def csi_driver_objects(location: str) -> list[Manifest]:
    """The vendored release manifest of the hcloud CSI driver without its StorageClass, with resources,
    the nodes' location, the node plugin in the host network."""
    documents = [d for d in yaml.safe_load_all(CSI_MANIFEST.read_text()) if d]
    objects = [
        _node_plugin_on_host_network(_with_location(_with_resources(_without_nulls(d)), location))
        for d in documents
        if not (d["kind"] == "StorageClass" and d["metadata"]["name"] == _UPSTREAM_STORAGE_CLASS)
    ]
    if len(objects) != len(documents) - 1:
        raise ValueError(f"{CSI_MANIFEST.name}: expected exactly one StorageClass {_UPSTREAM_STORAGE_CLASS}")
    return objects


def csi_token_secret_shell() -> Manifest:
    """The Secret the controller reads its Hetzner token from; the component fills the value."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(CSI_SECRET, CSI_NAMESPACE, labels("hcloud-csi", "storage", "hcloud-csi")),
        "type": "Opaque",
        "stringData": {CSI_SECRET_KEY: ""},
    }


def storage_class() -> Manifest:
    """Hetzner Cloud Volumes that outlive their claim: a deleted PVC or StatefulSet never deletes data.

    WaitForFirstConsumer: a volume is created in the location of the node the pod lands on (volumes are
    location-bound); all our nodes share one location, so a drained pod can follow its volume anywhere.
    Not the default class: only what asks for it gets a Cloud Volume (billed per GB).
    """
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            **metadata(STORAGE_CLASS, None, labels("hcloud-csi", "storage", "hcloud-csi")),
            "annotations": {"storageclass.kubernetes.io/is-default-class": "false"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Retain",
        "volumeBindingMode": "WaitForFirstConsumer",
        "allowVolumeExpansion": True,
    }


def storage_objects(location: str) -> list[Manifest]:
    """Secret shell, the driver (volumes in `location`, the nodes' Hetzner location), then the StorageClass."""
    return [csi_token_secret_shell(), *csi_driver_objects(location), storage_class()]
