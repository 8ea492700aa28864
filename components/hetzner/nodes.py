"""Hetzner nodes: SSH keys, spread placement groups, private network, K3s servers and agents with pinned host keys."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import pulumi
import pulumi_command as command
import pulumi_hcloud as hcloud
import pulumi_tls as tls

from components.config.checks import SPREAD_GROUP_SIZE, agent_offset
from components.config.model import NodesConfig
from components.hetzner.cloud_init import NodeBootstrap, render_cloud_init

# Fields a running node must never see updated: on an edit they are held, and take effect only when a node
# is rolled on purpose with `pulumi up --replace` (a replacement is created from the program's current
# inputs, ignore_changes or not: pulumi/pulumi step_generator.go L1321-L1333). terraform-provider-hcloud
# v1.68.0 internal/server/resource.go, offline/side_effects.py:
# - userData, sshKeys, image, location: ForceNew, a replacement;
# - serverType: a hard power-off, never powered on again (L587-L611);
# - publicNets: a hard power-off and power-on (updatePublicNet L756, L830). Its Read never writes public_net,
#   so an imported server would always show it as an addition (hetznercloud/terraform-provider-hcloud#944);
# - networks: an ip change detaches and re-attaches the private NIC (L1180-L1205); not read back on import;
# - placementGroupId: refused on a running server in a group, and adding one needs it off (L1369-L1404);
# - backups: the program never sets it (default false); an adopted server with backups would have them
#   switched off, which deletes every backup (L990-L1009; Hetzner API disable_backup).
SERVER_IGNORE_CHANGES = [
    "userData", "sshKeys", "image", "location", "serverType", "publicNets", "networks", "placementGroupId", "backups",
]  # fmt: skip
SSH_USER = "root"
REPLACEABLE_LABEL = "replaceable"
"""Label of a server released by replaceableNodes (the policy pack accepts it unprotected)."""
# A node adopted with its own host key is up already: a failing dial means a missing deploy key or a wrong
# host key, not a booting sshd, so it fails after a few attempts instead of at the 30-minute step timeout.
# pulumi-command retries every dial error up to dial_error_limit ("-1 set count to unlimited. Default value
# is 10", its schema; provider/pkg/provider/remote/connection.go).
ADOPTED_DIAL_ERROR_LIMIT = 3
Role = Literal["server", "agent"]


@dataclass(frozen=True, kw_only=True)
class NodesArgs:
    config: NodesConfig
    """Hetzner settings of the nodes (validated)."""
    firewall_script: str
    """The UFW script every node runs at first boot."""
    firewall_ids: Sequence[pulumi.Input[int]] = ()
    """Hetzner Cloud Firewalls to attach (the outer layer), if any."""
    labels: Mapping[str, str] = field(default_factory=dict)
    """Labels on every Hetzner resource."""
    previous_deploy_key_generation: int | None = None
    """The deploy key generation the running nodes hold (the stack's output); None on a first deployment."""
    running_nodes: frozenset[str] = frozenset()
    """Nodes that exist already (the stack's `nodes` and `agents` outputs): a new deploy key must reach them."""
    deploy_key_only: bool = False
    """Only the deploy key and its Hetzner SSH key (adoptDeployKeyFirst, docs/migration.md step 3)."""


def deploy_key_name(prefix: str, generation: int) -> str:
    """Resource and Hetzner name of the deploy key of `generation`: generation 1 keeps the name it always had,
    each later one has its own, so a rotation creates the new Hetzner key before deleting the old one (Hetzner
    refuses two keys of one name: terraform-provider-hcloud v1.68.0 internal/sshkey, uniqueness_error)."""
    return f"{prefix}-deploy" if generation == 1 else f"{prefix}-deploy-{generation}"


@dataclass(frozen=True)
class DeployKeyRotation:
    """A running node moves to a new deploy key in this `up` (components/k3s/deploy_key.py)."""

    generation: int
    public_key: pulumi.Output[str]
    """The new key, to authorize."""
    previous_public_key: pulumi.Output[str]
    """The key the node has now, to remove."""
    previous_private_key: pulumi.Output[str]
    """What the authorizing step logs in with (secret)."""


@dataclass(frozen=True)
class Node:
    """One server and how to reach it."""

    index: int
    """1-based position in its pool (servers, agents); server 1 starts the cluster."""
    name: str
    """Server (and host) name."""
    server: hcloud.Server
    """The server resource."""
    private_ip: str
    """Fixed address on the private network."""
    public_ipv4: pulumi.Output[str]
    """Public IPv4 address."""
    public_ipv6: pulumi.Output[str]
    """Public IPv6 address."""
    host_public_key: pulumi.Output[str]
    """The SSH host key the node was given, pinned by every connection."""
    role: Role = "server"
    """K3s server (etcd member) or agent (workloads only)."""
    adopted: bool = False
    """Built by hand and adopted: its host key is the one pinned in config (adoptedHostKeys), not ours."""
    protected: bool = False
    """Its server is protected (Pulumi and Hetzner), so its leave step refuses to run (replaceableNodes)."""
    deploy_key_rotation: DeployKeyRotation | None = None
    """Set while the node, running before this `up`, moves to a new deploy key (deployKeyGeneration)."""


def private_ip(subnet_cidr: str, index: int) -> str:
    """Server n gets the (n+1)th address of the subnet: Hetzner keeps the first for its gateway."""
    return str(ipaddress.ip_network(subnet_cidr).network_address + 1 + index)


def agent_private_ip(subnet_cidr: str, number: int) -> str:
    """Agent n's address comes after every address a server may take, so adding servers never moves it."""
    return private_ip(subnet_cidr, agent_offset(number))


def agent_name(prefix: str, number: int) -> str:
    """Server (and Kubernetes node) name of agent `number` (1-based)."""
    return f"{prefix}-agent-{number}"


def agent_spread_group_names(prefix: str, agent_count: int) -> list[str]:
    """Spread groups of the agents, one per 10 agents (Hetzner's limit per group).

    Agents never share the servers' group: servers + agents could pass 10, and a group per block of
    agents means adding agents never moves a running one to another group (which needs a power-off).
    """
    groups = (agent_count + SPREAD_GROUP_SIZE - 1) // SPREAD_GROUP_SIZE
    return [f"{prefix}-agent-spread-{g}" for g in range(1, groups + 1)]


def operator_key_name(prefix: str, public_key: str) -> str:
    """Named by a digest of the key, so removing one key never renames (replaces) the others."""
    return f"{prefix}-operator-{hashlib.sha256(public_key.split()[1].encode()).hexdigest()[:10]}"


@dataclass(frozen=True)
class _Placement:
    """Where one server goes and what it is."""

    index: int
    """1-based position in its pool."""
    name: str
    """Server (and host) name."""
    role: Role
    """K3s server or agent."""
    server_type: str
    """Hetzner server type."""
    ip: str
    """Fixed private address."""
    group: hcloud.PlacementGroup
    """The spread group it joins."""


class Nodes(pulumi.ComponentResource):
    """The K3s servers and agents on Hetzner and what they stand on."""

    nodes: list[Node]
    """The K3s servers, in join order (DNS, the API and etcd are theirs)."""
    agents: list[Node]
    """The K3s agents (workloads only); empty unless agentCount > 0."""
    network_id: pulumi.Output[int]
    deploy_private_key: pulumi.Output[str]

    def __init__(self, name: str, args: NodesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:nodes:Nodes", name, None, opts)
        cfg = args.config
        child = pulumi.ResourceOptions(parent=self)
        # Long-lived resources: Pulumi refuses to delete them while protected.
        lasting = pulumi.ResourceOptions(parent=self, protect=cfg.protect)
        labels = dict(args.labels)

        # The key pulumi-command logs in with; its private half never leaves state unencrypted. One per
        # generation (deployKeyGeneration): moving to the next one keeps the previous key for one `up`, to
        # authorize the new one on the running nodes (components/k3s/deploy_key.py).
        generation, previous = cfg.deploy_key_generation, args.previous_deploy_key_generation
        deploy_key = tls.PrivateKey(deploy_key_name(name, generation), algorithm="ED25519", opts=child)
        old_key = (
            tls.PrivateKey(deploy_key_name(name, previous), algorithm="ED25519", opts=child)
            if previous is not None and previous != generation
            else None
        )
        self._rotation = (
            None
            if old_key is None
            else DeployKeyRotation(
                generation=generation,
                public_key=deploy_key.public_key_openssh,
                previous_public_key=old_key.public_key_openssh,
                previous_private_key=pulumi.Output.secret(old_key.private_key_openssh),
            )
        )
        self._running = args.running_nodes
        deploy_ssh_key = hcloud.SshKey(
            deploy_key_name(name, generation),
            name=deploy_key_name(name, generation),
            public_key=deploy_key.public_key_openssh,
            labels=labels,
            opts=child,
        )
        self.deploy_private_key = pulumi.Output.secret(deploy_key.private_key_openssh)
        if args.deploy_key_only:
            # Before adoption: the hand-built nodes must authorize this key before anything logs in with it.
            self.nodes, self.agents, self.network_id = [], [], pulumi.Output.from_input(0)
            self.register_outputs({})
            return
        ssh_keys = [deploy_ssh_key] + [
            hcloud.SshKey(key_name, name=key_name, public_key=key, labels=labels, opts=child)
            for key in cfg.ssh_public_keys
            for key_name in [operator_key_name(name, key)]
        ]
        placement = hcloud.PlacementGroup(
            f"{name}-spread", name=f"{name}-spread", type="spread", labels=labels, opts=child
        )
        network = hcloud.Network(
            f"{name}-private",
            name=f"{name}-private",
            ip_range=cfg.private_network_cidr,
            delete_protection=cfg.protect,
            labels=labels,
            opts=lasting,
        )
        network_id = network.id.apply(int)
        subnet = hcloud.NetworkSubnet(
            f"{name}-nodes",
            network_id=network_id,
            type="cloud",
            network_zone=cfg.network_zone,
            ip_range=cfg.private_subnet_cidr,
            opts=child,
        )

        def build(where: _Placement) -> Node:
            return self._server(where, args, ssh_keys, network_id, subnet)

        self.nodes = [
            build(
                _Placement(
                    i, f"{name}-{i}", "server", cfg.server_type, private_ip(cfg.private_subnet_cidr, i), placement
                )
            )
            for i in range(1, cfg.server_count + 1)
        ]
        agent_groups = [
            hcloud.PlacementGroup(group, name=group, type="spread", labels=labels, opts=child)
            for group in agent_spread_group_names(name, cfg.agent_count)
        ]
        self.agents = [
            build(
                _Placement(
                    n,
                    agent_name(name, n),
                    "agent",
                    cfg.agent_server_type,
                    agent_private_ip(cfg.private_subnet_cidr, n),
                    agent_groups[(n - 1) // SPREAD_GROUP_SIZE],
                )
            )
            for n in range(1, cfg.agent_count + 1)
        ]
        self.network_id = network_id
        self.register_outputs(
            {
                "networkId": self.network_id,
                "nodes": _addresses(self.nodes),
                "agents": _addresses(self.agents),
            }
        )

    def _server(
        self,
        where: _Placement,
        args: NodesArgs,
        ssh_keys: list[hcloud.SshKey],
        network_id: pulumi.Output[int],
        subnet: hcloud.NetworkSubnet,
    ) -> Node:
        cfg = args.config
        server_name = where.name
        # An adopted node never runs this cloud-init (user_data is held by ignore_changes): the generated
        # host key stays unused, and stays in the program so no URN moves when adoption ends.
        adopted = server_name in cfg.adopted_host_keys
        host_key = tls.PrivateKey(
            f"{server_name}-host-key", algorithm="ED25519", opts=pulumi.ResourceOptions(parent=self)
        )

        def render(keys: list[str]) -> str:
            bootstrap = NodeBootstrap(
                hostname=server_name,
                host_private_key=keys[0],
                host_public_key=keys[1],
                firewall_script=args.firewall_script,
            )
            return render_cloud_init(bootstrap)

        # The document carries the private host key: secret end to end.
        rendered: pulumi.Output[str] = pulumi.Output.all(
            host_key.private_key_openssh, host_key.public_key_openssh
        ).apply(render)
        user_data: pulumi.Output[str] = pulumi.Output.secret(rendered)
        ip = where.ip
        server = hcloud.Server(
            server_name,
            name=server_name,
            server_type=where.server_type,
            image=cfg.server_image,
            location=cfg.location,
            ssh_keys=[key.name for key in ssh_keys],
            placement_group_id=where.group.id.apply(int),
            # alias_ips=[]: left unset, the provider detaches and re-attaches the private NIC on every apply,
            # cutting etcd and flannel (hetznercloud/terraform-provider-hcloud#650, docs in #804).
            networks=[hcloud.ServerNetworkArgs(network_id=network_id, ip=ip, alias_ips=[])],
            public_nets=[hcloud.ServerPublicNetArgs(ipv4_enabled=True, ipv6_enabled=True)],
            firewall_ids=list(args.firewall_ids),
            user_data=user_data,
            # A node named in replaceableNodes loses both locks in the same `up` that arms its leave step
            # (components/k3s/steps.leave_step): protection and leaving are one decision. The label tells
            # the policy pack the release is deliberate.
            labels={
                **args.labels,
                "role": f"k3s-{where.role}",
                "node": server_name,
                **({REPLACEABLE_LABEL: "true"} if server_name in cfg.replaceable else {}),
            },
            delete_protection=cfg.protects(server_name),
            rebuild_protection=cfg.protects(server_name),
            opts=pulumi.ResourceOptions(
                parent=self,
                protect=cfg.protects(server_name),
                ignore_changes=SERVER_IGNORE_CHANGES,
                # Names and private IPs are unique at Hetzner: a replacement can only be created once the old
                # server is gone. With delete_before_replace the engine first deletes every dependent whose
                # own diff would replace it (the node's steps, triggered on this server's id: they drain it
                # and take it out of etcd), then the server, then creates the new one
                # (pulumi/pulumi pkg/resource/deploy/step_generator.go, calculateDependentReplacements).
                delete_before_replace=True,
                # Attaching to the network fails until the subnet exists.
                depends_on=[subnet],
            ),
        )
        return Node(
            index=where.index,
            name=server_name,
            server=server,
            private_ip=ip,
            public_ipv4=server.ipv4_address,
            public_ipv6=server.ipv6_address,
            host_public_key=(
                pulumi.Output.from_input(cfg.adopted_host_keys[server_name])
                if adopted
                else host_key.public_key_openssh.apply(lambda key: key.strip())
            ),
            role=where.role,
            adopted=adopted,
            protected=cfg.protects(server_name),
            deploy_key_rotation=self._rotation if server_name in self._running else None,
        )

    def connection(self, node: Node) -> command.remote.ConnectionArgs:
        """SSH to a node as the deploy key, host key pinned, waiting out a booting sshd."""
        return command.remote.ConnectionArgs(
            host=node.public_ipv4,
            user=SSH_USER,
            private_key=self.deploy_private_key,
            host_key=node.host_public_key,
            # The default gives up after ~11 s while sshd is still starting; custom_timeouts bound it.
            dial_error_limit=ADOPTED_DIAL_ERROR_LIMIT if node.adopted else -1,
            per_dial_timeout=10,
        )


def _addresses(nodes: Sequence[Node]) -> dict[str, dict[str, pulumi.Input[str]]]:
    return {n.name: {"ipv4": n.public_ipv4, "ipv6": n.public_ipv6, "private": n.private_ip} for n in nodes}
