"""The node firewall: one rule model rendered as the UFW script and, optionally, a Hetzner Cloud Firewall."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_hcloud as hcloud

from components.config.model import K3sConfig, NodesConfig
from components.firewall.hcloud import hcloud_rules
from components.firewall.node_rules import node_firewall_rules
from components.firewall.rules import FirewallPolicy, FirewallRule, validate_rules
from components.firewall.ufw import render_ufw_script


def firewall_policy(nodes: NodesConfig, k3s: K3sConfig, web_sources: tuple[str, ...] | None) -> FirewallPolicy:
    """The policy of every node, from validated config and (with origin lockdown) Cloudflare's ranges."""
    return FirewallPolicy(
        admin_cidrs=nodes.admin_cidrs,
        deployer_cidrs=nodes.deployer_cidrs,
        private_network_cidr=nodes.private_network_cidr,
        cluster_cidr=k3s.cluster_cidr,
        service_cidr=k3s.service_cidr,
        web_sources=web_sources if nodes.origin_lockdown else None,
        wireguard=k3s.flannel_backend == "wireguard-native",
    )


def rule_problems(policy: FirewallPolicy) -> tuple[tuple[FirewallRule, ...], list[str]]:
    """The rules of a policy and the config problems in them (a rule opening etcd, kubelet or VXLAN
    beyond the cluster), so the caller can report them with every other pre-registration check."""
    rules = node_firewall_rules(policy)
    private = (policy.private_network_cidr, policy.cluster_cidr, policy.service_cidr)
    return rules, [f"firewall: {p}" for p in validate_rules(rules, private_cidrs=private)]


@dataclass(frozen=True, kw_only=True)
class NodeFirewallArgs:
    rules: tuple[FirewallRule, ...]
    """The validated rule model (see rule_problems)."""
    hcloud_firewall: bool
    """Also create the Hetzner Cloud Firewall as an outer layer."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels on the Hetzner firewall."""


class NodeFirewall(pulumi.ComponentResource):
    """Both layers of the node firewall, rendered from the same rules so they can never disagree."""

    ufw_script: str
    firewall_ids: list[pulumi.Output[int]]

    def __init__(self, name: str, args: NodeFirewallArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:firewall:NodeFirewall", name, None, opts)
        self.ufw_script = render_ufw_script(args.rules)
        self.firewall_ids = []
        if args.hcloud_firewall:
            firewall = hcloud.Firewall(
                name,
                name=name,
                rules=[hcloud.FirewallRuleArgs(**rule) for rule in hcloud_rules(args.rules)],
                labels=dict(args.labels),
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.firewall_ids = [firewall.id.apply(int)]
        self.register_outputs({"rules": len(args.rules), "firewallIds": self.firewall_ids})
