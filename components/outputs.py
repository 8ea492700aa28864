"""The stack outputs other teams read through StackReference: a contract (docs/outputs.md).

Names and shapes are locked by tests/test_outputs.py; a rename is a deliberate, reviewed break.
"""

from __future__ import annotations

import pulumi

from components.config.model import StackConfig
from components.hetzner.nodes import Nodes
from components.k3s.cluster import K3sCluster
from components.k8s.apps import Apps


def export_outputs(
    *, config: StackConfig, nodes: Nodes, cluster: K3sCluster, apps: Apps, zone_id: pulumi.Input[str]
) -> None:
    pulumi.export(
        "nodes",
        {n.name: {"ipv4": n.public_ipv4, "ipv6": n.public_ipv6, "privateIp": n.private_ip} for n in nodes.nodes},
    )
    # Apart from `nodes` (the servers: API and etcd), so a consumer of `nodes` never sees its meaning change.
    pulumi.export(
        "agents",
        {n.name: {"ipv4": n.public_ipv4, "ipv6": n.public_ipv6, "privateIp": n.private_ip} for n in nodes.agents},
    )
    pulumi.export("apiServerUrl", cluster.api_server)
    pulumi.export("kubeconfig", cluster.kubeconfig)
    pulumi.export("appNamespace", apps.namespace)
    pulumi.export("publicHostnames", list(config.apps.public_hostnames))
    pulumi.export("cloudflareZoneId", zone_id)
    pulumi.export("hetznerNetworkId", nodes.network_id)
    pulumi.export("k3sVersion", config.k3s.version)
    # The key pulumi-command logs in with, for break-glass SSH; a secret output, never plaintext.
    pulumi.export("deploySshPrivateKey", nodes.deploy_private_key)
