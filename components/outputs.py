"""The stack outputs other teams read through StackReference: a contract (docs/outputs.md).

Names and shapes are locked by tests/test_outputs.py; a rename is a deliberate, reviewed break.
"""

from __future__ import annotations

import pulumi

from components.k3s.token import TOKEN_SOURCE_OUTPUT
from components.stack import Stack


def export_outputs(stack: Stack) -> None:
    """Exports the contract from what `build` created."""
    config, nodes, cluster, apps = stack.config, stack.nodes, stack.cluster, stack.apps
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
    pulumi.export("cloudflareZoneId", stack.zone_id)
    pulumi.export("hetznerNetworkId", nodes.network_id)
    pulumi.export("k3sVersion", config.k3s.version)
    # Which token the cluster runs on ("config" or "random"); the next update refuses to switch (k3s/token.py).
    pulumi.export(TOKEN_SOURCE_OUTPUT, cluster.token.source)
    # The key pulumi-command logs in with, for break-glass SSH; a secret output, never plaintext.
    pulumi.export("deploySshPrivateKey", nodes.deploy_private_key)
