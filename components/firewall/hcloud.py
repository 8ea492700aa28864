"""The rule model rendered as Hetzner Cloud Firewall rules."""

from __future__ import annotations

from collections.abc import Iterable

from components.firewall.rules import PRIVATE_INTERFACE, FirewallRule


def hcloud_rules(rules: Iterable[FirewallRule]) -> list[dict[str, object]]:
    """Inbound rules for a Hetzner Cloud Firewall, as plain dicts (hcloud FirewallRuleArgs fields).

    Skipped: protocol `any`, routed rules and rules bound to the pod bridge. Their sources are pod
    CIDRs, which only exist inside the cluster: such packets are VXLAN/WireGuard payload or never
    leave the node, and Hetzner's firewall filters public interfaces only (hcloud has no "any"
    protocol either).
    Rules whose sources are the private network are kept: they match nothing on the public
    interface and document that the port is intentionally closed to the internet.
    """
    return [
        {
            "direction": "in",
            "protocol": rule.protocol,
            "port": rule.port_label("-"),
            "source_ips": list(rule.sources),
            "description": rule.description,
        }
        for rule in rules
        if rule.protocol != "any" and not rule.routed and rule.interface in ("", PRIVATE_INTERFACE)
    ]
