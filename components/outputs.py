"""The stack outputs other teams read through StackReference: a contract (docs/outputs.md).

Names and shapes are locked by tests/test_outputs.py; a rename is a deliberate, reviewed break. No output
holds a private key or an admin credential.
"""

from __future__ import annotations

import pulumi

from components.adoption import ADOPTED_NODES_OUTPUT
from components.config.deployed import DEPLOY_KEY_OUTPUT, ORIGIN_PULLS_OUTPUT
from components.k3s.token import TOKEN_SOURCE_OUTPUT
from components.k8s.access import namespace_kubeconfig
from components.stack import Stack


def export_outputs(stack: Stack | None) -> None:
    """Exports the contract from what `build` created (nothing for the deploy key's own `up`)."""
    if stack is None:
        return
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
    pulumi.export("appNamespace", apps.namespace)
    # Read-only access to the apps' namespace for other teams (secret: a bearer token), never cluster-admin.
    pulumi.export(
        "appKubeconfig",
        pulumi.Output.secret(
            pulumi.Output.all(cluster.kubeconfig, apps.consumer_token).apply(
                lambda v: namespace_kubeconfig(v[0], v[1], apps.namespace)
            )
        ),
    )
    pulumi.export("publicHostnames", list(config.apps.public_hostnames))
    pulumi.export("cloudflareZoneId", stack.zone_id)
    # A string, as Hetzner ids are everywhere else (k3sGenesis, import ids): a number reaches a Python consumer
    # as a float (outputs travel as JSON numbers, protobuf doubles), 1234.0 where hcloud wants 1234.
    pulumi.export("hetznerNetworkId", nodes.network_id.apply(str))
    # The release every node really runs: resolves only after the last converge step finished, so a failed
    # upgrade leaves the previous value (and the next `up`'s upgrade gate) in place.
    pulumi.export("k3sVersion", cluster.k3s_version)
    # Hetzner id of the server that started the cluster: the next `up` gives `cluster-init` to it alone.
    pulumi.export("k3sGenesis", cluster.genesis)
    # No root credential is an output (a StackReference would hand it to every consumer): the deploy SSH key
    # and the Kubernetes credential stay in the state only; operators read them with `make deploy-key` and
    # `make kubeconfig` (tools/state_secrets.py).
    # Which token the cluster runs on ("config" or "random"); the next update refuses to switch (k3s/token.py).
    pulumi.export(TOKEN_SOURCE_OUTPUT, cluster.token.source)
    # Nodes whose host key is pinned from config; the next update refuses a pin for any other node (deployed.py).
    pulumi.export(ADOPTED_NODES_OUTPUT, sorted(config.nodes.adopted_host_keys))
    # The next `up`'s rotation gate (deployKeyGeneration): only once every node authorized the key. A failed
    # step fails this Output, and the stack keeps the generation the nodes really hold.
    generation = config.nodes.deploy_key_generation
    authorized = pulumi.Output.all(*[step.id for step in cluster.deploy_key_steps])
    pulumi.export(DEPLOY_KEY_OUTPUT, authorized.apply(lambda _: generation))
    # The phase of Authenticated Origin Pulls the last `up` finished; the next refuses phase 2 without phase 1.
    pulumi.export(ORIGIN_PULLS_OUTPUT, stack.origin_pulls)
