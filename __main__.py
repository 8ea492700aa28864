"""Honeydue production as one Pulumi stack: load config, build providers, create components, export."""

import pulumi

from components.config import load_from_pulumi
from components.edge_ranges import cloudflare_edge_ranges
from components.firewall import NodeFirewall, NodeFirewallArgs, checked_rules, firewall_policy
from components.nodes import Nodes, NodesArgs
from components.providers import make_providers

config = load_from_pulumi()
providers = make_providers(config.credentials)
edge = cloudflare_edge_ranges(providers.cloudflare)
labels = {"app": "honeydue", "stack": config.stack, "managed-by": "pulumi"}

firewall = NodeFirewall(
    "honeydue-firewall",
    NodeFirewallArgs(
        rules=checked_rules(firewall_policy(config.nodes, config.k3s, edge.cidrs)),
        hcloud_firewall=config.nodes.hcloud_firewall,
        labels=labels,
    ),
    providers.options(),
)
nodes = Nodes(
    "honeydue",
    NodesArgs(
        config=config.nodes, firewall_script=firewall.ufw_script, firewall_ids=firewall.firewall_ids, labels=labels
    ),
    providers.options(),
)

pulumi.export(
    "nodes", {n.name: {"ipv4": n.public_ipv4, "ipv6": n.public_ipv6, "privateIp": n.private_ip} for n in nodes.nodes}
)
pulumi.export("hetznerNetworkId", nodes.network_id)
pulumi.export("k3sVersion", config.k3s.version)
# The key pulumi-command logs in with, for break-glass SSH; a secret output, never plaintext.
pulumi.export("deploySshPrivateKey", nodes.deploy_private_key)
