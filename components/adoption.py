"""Adopting the hand-built production: existing cloud resources are imported, not created again.

`adoptIds` maps resource names (as in build/plan/resources.md) to the ids the providers know them by.
A stack transformation gives each such resource `import_`, `protect` and `ignore_changes` on the fields the
program hard-codes and a hand-built resource may hold otherwise, so the first preview shows only imports (and
at most updates of server fields no provider Update acts on: offline/side_effects.IMPORT_READS).
Kubernetes objects that already exist are taken over by the provider's upsert_existing_objects (adopt mode
only), and K3s already running on an adopted node is left running (scripts/k3s/adopt.sh records its config).

Adoption ends by clearing `adoptIds` after the import `up`: Pulumi refuses to replace a resource whose
goal state still names an import id ("the replacement will change the ID, and is therefore incompatible
with the goal state", pulumi/pulumi#2893, pkg/resource/deploy/step_generator.go), so a stack left in adopt
mode can never roll a server. The program warns while the list is set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import pulumi

from components import naming
from components.config.model import StackConfig
from components.config.reader import ConfigError
from components.edge.dns import EdgeDnsArgs, dns_records
from components.edge.tls import zone_settings
from components.hetzner.nodes import agent_name, agent_spread_group_names, operator_key_name

ADOPTED_NODES_OUTPUT = "adoptedNodes"
"""Stack output: the nodes whose host key is pinned from config (adoptedHostKeys), read back by the next update."""

# Fields each importable type takes from the program, not from the live resource, that a hand-built
# resource may hold otherwise: held while adopting so the import finds no difference. The engine applies
# ignore_changes in the import step with the live inputs as the old ones (pulumi/pulumi#5976). Once adoptIds
# is cleared they show as in-place updates of the next preview (docs/migration.md lists them). Everything
# else must match; `make adopt-check` compares.
ADOPT_HELD_FIELDS: dict[str, tuple[str, ...]] = {
    # A server's other live fields are held for good (nodes.SERVER_IGNORE_CHANGES): public nets, networks,
    # placement group, type and backups, whose update would power it off, cut it or delete its backups.
    "hcloud:index/server:Server": ("labels", "deleteProtection", "rebuildProtection", "firewallIds"),
    "hcloud:index/network:Network": ("name", "labels", "deleteProtection"),
    "hcloud:index/networkSubnet:NetworkSubnet": (),
    "hcloud:index/placementGroup:PlacementGroup": ("name", "labels"),
    "hcloud:index/sshKey:SshKey": ("name", "labels"),
    "hcloud:index/firewall:Firewall": ("name", "labels"),
    # proxied is not held: with originLockdown the first firewall sync lets only Cloudflare reach 80/443,
    # so a record that is DNS-only today must be fixed before the cut-over, not after.
    "cloudflare:index/dnsRecord:DnsRecord": ("comment", "ttl"),
    # The hard-coded settings (ssl_automatic_mode, 0rtt, always_use_https, min_tls_version, tls_1_3); `ssl` comes
    # from config (sslMode) and must match: see held_fields. Once adoptIds is cleared, a held setting the zone
    # holds otherwise is updated with its value (a PATCH that carries it); one it already holds changes only its
    # options, a same step that calls no Update, so never the empty PATCH of pulumi-cloudflare#1319
    # (offline/side_effects.update_refusal; scenario adopt-ends).
    "cloudflare:index/zoneSetting:ZoneSetting": ("value",),
}
CONFIGURED_SETTING = f"{naming.EDGE_TLS}-ssl"
"""The one zone setting whose value is config (sslMode), never held."""


def held_fields(type_: str, name: str) -> tuple[str, ...]:
    """What `ignore_changes` holds on resource `name` of `type_` while it is adopted."""
    return () if name == CONFIGURED_SETTING else ADOPT_HELD_FIELDS[type_]


ADOPTABLE_TYPES = frozenset(ADOPT_HELD_FIELDS)
ADOPT_MODE_WARNING = (
    "honeydue:adoptIds is set (adopt mode). Once an `up` has imported everything, clear it: "
    "`pulumi config rm honeydue:adoptIds` - Pulumi refuses to replace a resource that still names an import "
    "id, and adopt mode takes over any live Kubernetes object the program names (docs/migration.md, section 5)"
)


# A Hetzner Cloud id: a positive int64 (hcloud-go's ID fields; the provider parses an import id with
# strconv.ParseInt). Anything else fails the import, after every earlier resource of the `up` was imported.
HETZNER_ID = re.compile(r"[1-9][0-9]{0,18}", re.ASCII)


def _hetzner_id(value: str) -> bool:
    return bool(HETZNER_ID.fullmatch(value)) and int(value) < 2**63


def hetzner_adoptable_names(config: StackConfig) -> set[str]:
    """The adoptable Hetzner resources this configuration creates, by name (their import ids are numbers)."""
    nodes = naming.NODES
    servers, agents = node_names(config)
    names = {*servers, *agents, f"{nodes}-private", f"{nodes}-nodes", f"{nodes}-spread", f"{nodes}-deploy"}
    names |= set(agent_spread_group_names(nodes, config.nodes.agent_count))
    names |= {operator_key_name(nodes, key) for key in config.nodes.ssh_public_keys}
    if config.nodes.hcloud_firewall:
        names.add(naming.FIREWALL)
    return names


def adoptable_names(config: StackConfig) -> set[str]:
    """Every resource of an adoptable type this configuration creates, by name."""
    servers, _ = node_names(config)
    names = hetzner_adoptable_names(config)
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


def node_names(config: StackConfig) -> tuple[list[str], list[str]]:
    """Server names in join order, and agent names."""
    nodes = naming.NODES
    servers = [f"{nodes}-{i}" for i in range(1, config.nodes.server_count + 1)]
    return servers, [agent_name(nodes, n) for n in range(1, config.nodes.agent_count + 1)]


def check_adoption(config: StackConfig) -> None:
    """Adopt entries name resources of this stack, and adopted nodes can be reached and keep their cluster.

    All problems at once, before anything is created.
    """
    known = adoptable_names(config)
    problems = [
        f"honeydue:adoptIds: {name!r} is not an adoptable resource of this stack (see build/plan/resources.md)"
        for name in sorted(set(config.adopt) - known)
    ]
    subnet = f"{naming.NODES}-nodes"
    problems += [
        f"honeydue:adoptIds: {name}={config.adopt[name]!r}: a Hetzner id is a positive number (hcloud {name} describe)"
        for name in sorted(set(config.adopt) & hetzner_adoptable_names(config) - {subnet})
        if not _hetzner_id(config.adopt[name])
    ]
    if subnet in config.adopt:
        network_id, _, ip_range = config.adopt[subnet].partition("-")
        if not _hetzner_id(network_id) or ip_range != config.nodes.private_subnet_cidr:
            wanted = f"<network id>-{config.nodes.private_subnet_cidr}"
            problems.append(
                f"honeydue:adoptIds: {subnet}={config.adopt[subnet]!r} is not {wanted} (a subnet's import id)"
            )
    pinned: dict[str, str] = {}
    for name, key in sorted(config.nodes.adopted_host_keys.items()):
        if key in pinned:
            problems.append(
                f"honeydue:adoptedHostKeys: {name} has the host key of {pinned[key]}: a cloned key lets one node "
                "answer for the other; give each node its own (ssh-keygen -A after removing the copies)"
            )
        pinned.setdefault(key, name)
    servers, agents = node_names(config)
    adopted_servers = [s for s in servers if s in config.adopt]
    host_keys = config.nodes.adopted_host_keys
    problems += [
        f"honeydue:adoptedHostKeys: {name!r} is not a node of this stack ({', '.join(servers + agents)})"
        for name in sorted(set(host_keys) - set(servers) - set(agents))
    ]
    problems += [
        f"honeydue:adoptedHostKeys: {name} is adopted (adoptIds) but has no pinned host key; add "
        f"'{name}=<type> <base64>' from `ssh-keyscan` (it never ran this stack's cloud-init)"
        for name in [*servers, *agents]
        if name in config.adopt and name not in host_keys
    ]
    if adopted_servers and len(adopted_servers) != len(servers):
        # A server left out would be created new; as server 1 it would start a second cluster (cluster-init).
        missing = ", ".join(s for s in servers if s not in config.adopt)
        problems.append(f"honeydue:adoptIds: adopt every server or none; missing {missing}")
    if adopted_servers and config.k3s.token is None:
        problems.append(
            "honeydue:k3sToken: is required when servers are adopted: the running cluster's token "
            "(/var/lib/rancher/k3s/server/token on server 1); set it with "
            "`pulumi config set --secret honeydue:k3sToken < token-file`"
        )
    if problems:
        raise ConfigError(problems, [])


def register_adoption(ids: Mapping[str, str]) -> None:
    """Imports every listed resource, protects it and holds its hard-coded fields; a no-op without entries."""
    if not ids:
        return
    pulumi.log.warn(ADOPT_MODE_WARNING)

    def adopt(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        import_id = ids.get(args.name)
        if import_id is None or args.type_ not in ADOPTABLE_TYPES:
            return None
        return pulumi.ResourceTransformationResult(
            args.props,
            pulumi.ResourceOptions.merge(
                args.opts,
                pulumi.ResourceOptions(
                    import_=import_id, protect=True, ignore_changes=list(held_fields(args.type_, args.name))
                ),
            ),
        )

    pulumi.runtime.register_stack_transformation(adopt)
