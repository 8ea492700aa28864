"""Every flow a K3s node accepts, built from the firewall policy (pure data, no Pulumi)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from components.firewall.rules import ANYWHERE, PRIVATE_INTERFACE, FirewallPolicy, FirewallRule


def _port_rule(
    description: str,
    protocol: Literal["tcp", "udp"],
    ports: tuple[int, int],
    sources: Iterable[str],
    interface: str = "",
) -> FirewallRule:
    return FirewallRule(
        description=description,
        protocol=protocol,
        port_from=ports[0],
        port_to=ports[1],
        sources=tuple(sources),
        interface=interface,
    )


POD_BRIDGE = "cni0"
"""The bridge K3s' flannel CNI plugs this node's pods into: their packets to the node arrive here."""
# Flannel's tunnel interfaces per backend (flannel backends: vxlan -> flannel.1, wireguard-native ->
# flannel-wg); remote pods' traffic to local pods is decapsulated there and then forwarded.
FLANNEL_VXLAN = "flannel.1"
FLANNEL_WIREGUARD = "flannel-wg"
# What pods need of the node itself (not of other pods): hostNetwork Traefik, the API server (the
# `kubernetes` Service endpoints are the servers' private addresses), the kubelet (metrics-server).
POD_TO_NODE_PORTS: tuple[tuple[str, int], ...] = (
    ("hostNetwork Traefik HTTP", 80),
    ("hostNetwork Traefik HTTPS", 443),
    ("Kubernetes API", 6443),
    ("kubelet API", 10250),
)


def node_firewall_rules(policy: FirewallPolicy) -> tuple[FirewallRule, ...]:
    """Every flow a K3s server node accepts, in a fixed order. Anything not listed is dropped.

    Rules whose sources are the private network accept only on the private NIC (`in on`): a packet with a
    forged private source arriving on the public interface matches nothing and meets the DROP policy.
    """
    operators = policy.admin_cidrs + policy.deployer_cidrs
    private = (policy.private_network_cidr,)
    web = ANYWHERE if policy.web_sources is None else policy.web_sources
    nic = PRIVATE_INTERFACE
    rules = [
        _port_rule("SSH from admins and deployer", "tcp", (22, 22), operators),
        _port_rule("Kubernetes API from admins and deployer", "tcp", (6443, 6443), operators),
        # Nodes reach the API over the private network (node-ip/advertise-address are private).
        _port_rule("Kubernetes API from nodes", "tcp", (6443, 6443), private, nic),
        _port_rule("HTTP to hostNetwork Traefik", "tcp", (80, 80), web),
        _port_rule("HTTPS to hostNetwork Traefik", "tcp", (443, 443), web),
        _port_rule("etcd between servers", "tcp", (2379, 2380), private, nic),
        _port_rule("kubelet API from nodes", "tcp", (10250, 10250), private, nic),
        # Kept with wireguard-native too: a backend switch rolls node by node, and nodes still on
        # VXLAN keep talking 8472 until the last one moved.
        _port_rule("flannel VXLAN between nodes", "udp", (8472, 8472), private, nic),
    ]
    if policy.wireguard:
        # 51820 carries the IPv4 tunnel, 51821 the IPv6 one (K3s networking requirements).
        rules.append(_port_rule("flannel WireGuard between nodes", "udp", (51820, 51821), private, nic))
    rules += _cluster_rules(policy)
    return tuple(rules)


def _cluster_rules(policy: FirewallPolicy) -> list[FirewallRule]:
    # K3s' UFW guidance allows the pod and service CIDRs to every port; this opens only what pods need.
    # Pods on other nodes reach this node's addresses masqueraded to their node's private address
    # (flannel's ip-masq: pod source, non-pod destination), so they match the private-NIC rules above;
    # pod sources only ever arrive from this node's own pods, on the bridge.
    pods = (policy.cluster_cidr,)
    rules = [_port_rule(f"pods to {what}", "tcp", (port, port), pods, POD_BRIDGE) for what, port in POD_TO_NODE_PORTS]
    # kube-proxy's IPVS mode binds every Service IP to kube-ipvs0 on the node: a pod's packet to a Service
    # passes the filter INPUT chain (IPVS takes it over later, in LOCAL_IN). IPVS answers only for
    # ports that are Services; kube-proxy's KUBE-IPVS-FILTER rejects the rest.
    rules.append(
        FirewallRule(
            description="pods to Service IPs (IPVS)",
            protocol="any",
            sources=pods,
            interface=POD_BRIDGE,
            destination=policy.service_cidr,
        )
    )
    # Forwarding: pod egress and pod-to-pod traffic (local pods from the bridge, remote pods
    # decapsulated from the flannel tunnel). UFW's routed default stays deny, so traffic DNATed to a
    # pod from outside (a NodePort in iptables mode) is not forwarded, nor a forged pod source
    # arriving on the public NIC. The metadata service is dropped before these (ufw_apply.sh.tmpl).
    tunnels = [FLANNEL_VXLAN, FLANNEL_WIREGUARD] if policy.wireguard else [FLANNEL_VXLAN]
    for interface in [POD_BRIDGE, *tunnels]:
        rules.append(
            FirewallRule(
                description=f"forward pod traffic from {interface}",
                protocol="any",
                sources=pods,
                routed=True,
                interface=interface,
            )
        )
    return rules
