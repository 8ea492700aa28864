"""Adopting the hand-built production: existing cloud resources are imported, not created again.

`adoptIds` maps resource names (as in build/plan/resources.md) to the ids the providers know them by.
A stack transformation gives each such resource `import_` and `protect`, so the first preview shows
only imports. Kubernetes objects that already exist are adopted by the provider's
upsert_existing_objects, and K3s already running on a node is left running by install.sh.
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from components import naming
from components.config.load import ConfigError
from components.config.model import StackConfig
from components.edge.dns import EdgeDnsArgs, dns_records
from components.edge.tls import zone_settings
from components.hetzner.nodes import agent_name, agent_spread_group_names, operator_key_name

ADOPTABLE_TYPES = frozenset(
    {
        "hcloud:index/server:Server",
        "hcloud:index/network:Network",
        "hcloud:index/networkSubnet:NetworkSubnet",
        "hcloud:index/placementGroup:PlacementGroup",
        "hcloud:index/sshKey:SshKey",
        "hcloud:index/firewall:Firewall",
        "cloudflare:index/dnsRecord:DnsRecord",
        "cloudflare:index/zoneSetting:ZoneSetting",
    }
)


def adoptable_names(config: StackConfig) -> set[str]:
    """Every resource of an adoptable type this configuration creates, by name."""
    nodes = naming.NODES
    servers = [f"{nodes}-{i}" for i in range(1, config.nodes.server_count + 1)]
    names = {*servers, f"{nodes}-private", f"{nodes}-nodes", f"{nodes}-spread", f"{nodes}-deploy"}
    names |= {agent_name(nodes, n) for n in range(1, config.nodes.agent_count + 1)}
    names |= set(agent_spread_group_names(nodes, config.nodes.agent_count))
    names |= {operator_key_name(nodes, key) for key in config.nodes.ssh_public_keys}
    if config.nodes.hcloud_firewall:
        names.add(naming.FIREWALL)
    # DNS records point at the servers only, never at agents.
    dns = EdgeDnsArgs(
        zone_id="",
        domain=config.apps.domain,
        hostnames=config.apps.public_hostnames,
        servers=[(server, "", "") for server in servers],
        api_dns_name=config.k3s.api_dns_name,
        api_addresses=["" for _ in servers],
    )
    names |= {record.resource_name for record in dns_records(naming.DNS, dns)}
    names |= {f"{naming.EDGE_TLS}-{s.replace('_', '-')}" for s in zone_settings(config.edge.ssl_mode)}
    return names


def check_adoption(config: StackConfig) -> None:
    """Every adopt entry names a resource this stack creates; fails before anything is created."""
    known = adoptable_names(config)
    problems = [
        f"honeydue:adoptIds: {name!r} is not an adoptable resource of this stack (see build/plan/resources.md)"
        for name in sorted(set(config.adopt) - known)
    ]
    if problems:
        raise ConfigError(problems, [])


def register_adoption(ids: Mapping[str, str]) -> None:
    """Imports every listed resource and protects it; a no-op without entries."""
    if not ids:
        return

    def adopt(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        import_id = ids.get(args.name)
        if import_id is None or args.type_ not in ADOPTABLE_TYPES:
            return None
        return pulumi.ResourceTransformationResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(import_=import_id, protect=True))
        )

    pulumi.runtime.register_stack_transformation(adopt)
