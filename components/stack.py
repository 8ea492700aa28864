"""The whole Honeydue stack as one function: validated config in, typed handles out.

`__main__.py` calls `build` and exports; tests and benchmarks call it too, so the wiring (the order of
the layers, the SSL cut-over, which step each node's firewall sync waits for) exists once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import pulumi
import pulumi_command as command

from components import naming
from components.adoption import ADOPTED_NODES_OUTPUT, check_adoption, node_names, register_adoption
from components.anatomy import NodeTarget
from components.config.deployed import (
    DEPLOY_KEY_OUTPUT,
    ORIGIN_PULLS_OUTPUT,
    deployed_key_generation,
    deployed_state_problems,
)
from components.config.model import StackConfig
from components.config.networks import edge_overlap_problems
from components.config.reader import ConfigError
from components.config.sdk import stack_output_now
from components.edge.balancer import EdgeBalancer, EdgeBalancerArgs
from components.edge.cutover import CutoverArgs, ssl_cutover
from components.edge.dns import EdgeDns, EdgeDnsArgs
from components.edge.origin_pulls import OriginPulls
from components.edge.ranges import cloudflare_edge_ranges
from components.edge.serving import Serving, ServingArgs
from components.edge.tls import EdgeTls, OriginCertificate
from components.edge.zone import cloudflare_zone_id
from components.firewall.component import NodeFirewall, NodeFirewallArgs, firewall_policy, rule_problems
from components.firewall.rules import FirewallRule
from components.firewall.sync import FirewallSync, FirewallSyncArgs
from components.firewall.ufw import render_ufw_script
from components.hetzner.cloud_init import user_data_problems
from components.hetzner.nodes import Node, Nodes, NodesArgs
from components.hetzner.server_types import server_type_problems
from components.hetzner.upgrades import NodeUpgrades, NodeUpgradesArgs
from components.k3s.cluster import K3sCluster, K3sClusterArgs
from components.k3s.servers import K3sAgent, K3sServer
from components.k3s.token import TOKEN_SOURCE_OUTPUT
from components.k8s.apps import Apps, AppsArgs, OriginTls, apps_spec
from components.k8s.durability import Maintenance, MaintenanceArgs, Storage, StorageArgs
from components.k8s.kured import RebootWindow
from components.k8s.redis_backup import backup_spec
from components.k8s.spec import REDIS_SECRET
from components.k8s.traefik import Traefik, TraefikArgs
from components.preview_mode import keep_running_secrets
from components.providers import Providers, make_providers

TLS_SECRET_NAME = "honeydue-origin-tls"
"""The kubernetes.io/tls Secret holding the Origin CA certificate in full/strict mode."""


@dataclass(frozen=True)
class NodeHandle:
    """One node and everything per node that other layers wire to."""

    node: Node
    """The Hetzner server."""
    connection: command.remote.ConnectionArgs
    """SSH as the deploy key, pinned to the host key the node made after first boot (k3s/host_key.py)."""
    cloud_init: command.remote.Command
    """The node's first boot has finished (its own first firewall run included) and its host key is its own."""


@dataclass(frozen=True)
class Stack:
    """What `build` created, for exports, tests and benchmarks."""

    config: StackConfig
    providers: Providers
    firewall: NodeFirewall
    nodes: Nodes
    servers: tuple[NodeHandle, ...]
    """K3s servers in join order (API, etcd, DNS)."""
    agents: tuple[NodeHandle, ...]
    """K3s agents (workloads only)."""
    cluster: K3sCluster
    traefik: Traefik
    apps: Apps
    storage: Storage
    """The hcloud CSI driver and the StorageClass of Redis's volume."""
    maintenance: Maintenance
    """kured and the Redis backup job."""
    node_upgrades: NodeUpgrades
    """Unattended security upgrades on every node."""
    edge_tls: EdgeTls
    origin: OriginCertificate | None
    """The Origin CA certificate (full/strict), else None."""
    origin_pulls: pulumi.Output[str]
    """"off", "optional" or "required" once the phase is in place (the `originPulls` output)."""
    dns: EdgeDns
    zone_id: pulumi.Input[str]


def build(config: StackConfig) -> Stack | None:
    """Creates every resource of the stack from validated config; fails before creating anything on bad input.
    None: the deploy key's own `up` before an adoption (adoptDeployKeyFirst), which exports nothing."""
    if config.preview_without_secrets:
        if not pulumi.runtime.is_dry_run():
            raise ConfigError(["honeydue:previewWithoutSecrets: is for previews of the read-only environment only"], [])
        pulumi.runtime.register_stack_transformation(keep_running_secrets)
    check_adoption(config)
    register_adoption(config.adopt)
    providers = make_providers()
    # Lookups that validation needs (Cloudflare's ranges, the release and token source last deployed) come first: a
    # refusal must leave nothing behind but the providers and the read-only stack reference.
    edge_ranges = cloudflare_edge_ranges(providers.cloudflare)
    this_stack = pulumi.StackReference(f"{pulumi.get_organization()}/{pulumi.get_project()}/{pulumi.get_stack()}")
    labels = {"app": "honeydue", "stack": config.stack, "managed-by": "pulumi"}
    cloud = providers.options()
    if config.deploy_key_first:
        _deploy_key_first(config, this_stack, labels, cloud)
        return None
    rules = _checked_rules(config, edge_ranges.cidrs, this_stack, server_type_problems(providers.hcloud, config.nodes))

    # --- Hetzner: the firewall model, then the nodes it protects ----------------------------------
    firewall = NodeFirewall(
        naming.FIREWALL,
        NodeFirewallArgs(rules=rules, hcloud_firewall=config.nodes.hcloud_firewall, labels=labels),
        cloud,
    )
    nodes = Nodes(
        naming.NODES,
        NodesArgs(
            config=config.nodes,
            firewall_script=firewall.ufw_script,
            firewall_ids=firewall.firewall_ids,
            labels=labels,
            previous_deploy_key_generation=_deployed_key_generation(this_stack),
            running_nodes=_running_nodes(this_stack),
        ),
        cloud,
    )

    # --- K3s over SSH; it yields the one Kubernetes provider --------------------------------------
    cluster = K3sCluster(
        naming.K3S,
        K3sClusterArgs(
            config=config.k3s,
            servers=[K3sServer(node=node, connection=nodes.connection(node)) for node in nodes.nodes],
            agents=[K3sAgent(node=node, connection=nodes.connection(node)) for node in nodes.agents],
            previous_genesis=this_stack.get_output("k3sGenesis"),
            adopting=bool(config.adopt),
        ),
        cloud,
    )
    servers, agents = (
        tuple(NodeHandle(n, cluster.connections[n.name], cluster.cloud_init_done[n.name]) for n in pool)
        for pool in (nodes.nodes, nodes.agents)
    )
    node_targets = [_node_target(h) for h in (*servers, *agents)]
    firewall_sync = FirewallSync(
        naming.FIREWALL_SYNC,
        FirewallSyncArgs(
            ufw_script=firewall.ufw_script,
            ranges_etag=edge_ranges.etag,
            targets=node_targets,
        ),
        cloud,
    )

    node_upgrades = NodeUpgrades(
        naming.NODE_UPGRADES,
        NodeUpgradesArgs(targets=node_targets),
        cloud,
    )

    # --- Cloudflare DNS, then the Kubernetes provider, which must not dial the API name before it resolves
    zone_id = cloudflare_zone_id(providers.cloudflare, config.apps.domain, config.edge.zone_id)
    # DNS points at the servers only. Traefik runs on agents too (a DaemonSet), but the servers are the
    # stable set: agents come and go with agentCount, and a scale-in would otherwise have to retract their
    # records before the drain. Traefik on any server reaches pods on agents through the Service network.
    dns = EdgeDns(
        naming.DNS,
        EdgeDnsArgs(
            zone_id=zone_id,
            domain=config.apps.domain,
            hostnames=config.apps.public_hostnames,
            servers=[(h.node.name, h.node.public_ipv4, h.node.public_ipv6) for h in servers],
            api_dns_name=config.k3s.api_dns_name,
            api_addresses=[h.node.public_ipv4 for h in servers],
            api_servers=[h.node.name for h in servers],
            # A server's records go before it is drained (Pulumi deletes dependents first), so on a scale-in
            # Cloudflare stops sending it traffic before its pods are evicted.
            after=cluster.leave_steps,
            # ... and already in the `up` that releases it, before any `up` replaces or removes it.
            withdrawn=config.nodes.replaceable,
        ),
        cloud,
    )
    cluster.connect(api_endpoint_ready=dns.api_records)

    # --- Redis's volume comes from the hcloud CSI driver; the apps wait for its StorageClass -------
    in_cluster_opts = pulumi.ResourceOptions(providers=[cluster.provider], depends_on=[cluster.first_server_ready])
    storage = Storage(
        naming.STORAGE,
        StorageArgs(csi_token=config.maintenance.csi_token, location=config.nodes.location),
        in_cluster_opts,
    )

    # --- SSL mode, Traefik and the apps, ordered by the cut-over ----------------------------------
    in_cluster: list[tuple[Traefik, Apps]] = []

    def serve_origin(
        origin: OriginCertificate | None, pulls: OriginPulls | None, after: Sequence[pulumi.Resource]
    ) -> list[pulumi.Resource]:
        tls_secret_name = None if origin is None else TLS_SECRET_NAME
        opts = pulumi.ResourceOptions(
            providers=[cluster.provider, providers.random],
            depends_on=[cluster.first_server_ready, storage.storage_class, *after],
        )
        traefik = Traefik(
            naming.TRAEFIK,
            TraefikArgs(
                cloudflare_cidrs=edge_ranges.cidrs,
                tls_secret_name=tls_secret_name,
                ingress_hostname=config.apps.domain,
                client_ca_pem=None if pulls is None else pulls.ca_certificate_pem,
                client_auth_required=pulls is not None and pulls.required,
            ),
            # Traefik binds 80/443 as non-root only once every node lets it (the firewall script's sysctl), and
            # in phase 2 requires Cloudflare's client certificate only once Cloudflare presents it (edge/cutover.py).
            pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    depends_on=[*firewall_sync.steps, cluster.traefik_crds, *(pulls.ready if pulls else [])]
                ),
            ),
        )
        spec = apps_spec(
            config.apps,
            config.services,
            cluster_cidr=config.k3s.cluster_cidr,
            node_cidrs=(config.nodes.private_network_cidr,),
            tls_secret_name=tls_secret_name,
        )
        origin_tls = (
            None
            if origin is None
            else OriginTls(certificate_pem=origin.certificate_pem, private_key_pem=origin.private_key_pem)
        )
        apps = Apps(naming.APPS, AppsArgs(spec=spec, origin_tls=origin_tls), opts)
        in_cluster.append((traefik, apps))
        return [traefik.chart_config, *apps.tls_objects]

    cutover = ssl_cutover(
        CutoverArgs(
            zone_id=zone_id,
            ssl_mode=config.edge.ssl_mode,
            origin_pulls_required=config.edge.origin_pulls_required,
            domain=config.apps.domain,
            validity_days=config.edge.origin_cert_validity_days,
            hostnames=config.apps.public_hostnames,
            # The servers DNS points at, once their K3s converged (a replaced server's gate waits for its install).
            gate_targets={h.node.name: replace(_node_target(h), after=cluster.converged[h.node.name]) for h in servers},
            released=_released(config, servers),
        ),
        serve_origin,
        cloud,
    )
    ((traefik, apps),) = in_cluster
    # --- Where Cloudflare sends requests: each server once it serves (records, or a monitored pool) ---------
    # In full/strict "serves" includes its gate: the Origin CA certificate on 443, as the mode demands.
    gates = cutover.gate.by_index if cutover.gate is not None else {}
    _publish_origins(config, servers, cluster, dns, zone_id, [traefik.chart_config, *apps.ingresses], gates, cloud)
    maintenance = _maintenance(config, apps, cluster)

    return Stack(
        config=config,
        providers=providers,
        firewall=firewall,
        nodes=nodes,
        servers=servers,
        agents=agents,
        cluster=cluster,
        traefik=traefik,
        apps=apps,
        storage=storage,
        maintenance=maintenance,
        node_upgrades=node_upgrades,
        edge_tls=cutover.edge_tls,
        origin=cutover.origin,
        origin_pulls=cutover.origin_pulls_state,
        dns=dns,
        zone_id=zone_id,
    )


def _released(config: StackConfig, servers: Sequence[NodeHandle]) -> frozenset[int]:
    """Indices of the servers named in replaceableNodes."""
    return frozenset(h.node.index for h in servers if h.node.name in config.nodes.replaceable)


def _publish_origins(
    config: StackConfig,
    servers: Sequence[NodeHandle],
    cluster: K3sCluster,
    dns: EdgeDns,
    zone_id: pulumi.Input[str],
    serves: Sequence[pulumi.Resource],
    gates: Mapping[int, pulumi.Resource],
    cloud: pulumi.ResourceOptions,
) -> None:
    """Each server's serving step (after its Ready wait and `serves`: Traefik and the routes), then its proxied
    records, and with edgeOrigins loadBalancer the pool and load balancers (edge/serving.py, edge/balancer.py). In
    full/strict they also wait for the server's gate step (`gates`, by index: edge/origin_gate.py)."""
    serving = Serving(
        naming.SERVING,
        ServingArgs(
            host=config.apps.domain,
            targets=[replace(_node_target(h), after=cluster.ready_steps[h.node.name]) for h in servers],
            after=serves,
            released=_released(config, servers),
        ),
        cloud,
    )
    serving_steps = {
        h.node.name: [serving.steps[h.node.index], *([gates[h.node.index]] if h.node.index in gates else [])]
        for h in servers
    }
    dns.publish(serving_steps)
    if config.edge.origins == "loadBalancer" and config.edge.account_id:
        EdgeBalancer(
            naming.BALANCER,
            EdgeBalancerArgs(
                account_id=config.edge.account_id,
                zone_id=zone_id,
                pool_name=f"{pulumi.get_project()}-{pulumi.get_stack()}-servers",
                domain=config.apps.domain,
                hostnames=config.apps.public_hostnames,
                monitor_host=config.apps.domain,
                servers=[(h.node.name, h.node.public_ipv4) for h in servers],
                withdrawn=config.nodes.replaceable,
                serving=serving_steps,
            ),
            cloud,
        )


def _deploy_key_first(
    config: StackConfig, this_stack: pulumi.StackReference, labels: dict[str, str], cloud: pulumi.ResourceOptions
) -> None:
    """docs/migration.md step 3: the deploy key and its Hetzner SSH key alone, under the URNs the whole program
    gives them, so the hand-built nodes can authorize it (`make adopt-keys`) before anything logs in with it.
    Not a targeted `up`: the engine always includes every provider in one (pulumi/pulumi step_generator.go,
    isImplicitlyTargetedResource), and the Kubernetes provider would be an untargeted create's dependent."""
    if _running_nodes(this_stack) or stack_output_now(this_stack, "k3sVersion"):
        raise ConfigError(
            [
                "honeydue:adoptDeployKeyFirst: the stack has deployed nodes already; this mode builds only the deploy "
                "key, before an adoption (docs/migration.md step 3), and would delete the rest: unset it"
            ],
            [],
        )
    Nodes(
        naming.NODES,
        NodesArgs(config=config.nodes, firewall_script="", labels=labels, deploy_key_only=True),
        cloud,
    )


def _checked_rules(
    config: StackConfig, edge_cidrs: tuple[str, ...], this_stack: pulumi.StackReference, lookups: list[str]
) -> tuple[FirewallRule, ...]:
    """The firewall's rules, once every check that needs more than config holds: the rule model, operator
    networks against Cloudflare's ranges, the user data's size, and the move from what the stack last deployed.
    All problems at once, as a ConfigError, before anything but the lookups is registered."""
    rules, problems = rule_problems(firewall_policy(config.nodes, config.k3s, edge_cidrs))
    problems = lookups + problems
    operators = {"adminCidrs": config.nodes.admin_cidrs, "deployerCidrs": config.nodes.deployer_cidrs}
    problems += edge_overlap_problems(operators, edge_cidrs)
    servers, agents = node_names(config)
    problems += user_data_problems(
        [*servers, *agents], render_ufw_script(rules), {**operators, "Cloudflare's published ranges": edge_cidrs}
    )
    problems += deployed_state_problems(
        config,
        previous_version=stack_output_now(this_stack, "k3sVersion"),
        previous_token_source=stack_output_now(this_stack, TOKEN_SOURCE_OUTPUT),
        previous_adopted=stack_output_now(this_stack, ADOPTED_NODES_OUTPUT),
        previous_key_generation=_deployed_key_generation(this_stack),
        leaving_nodes=_running_nodes(this_stack) - {*servers, *agents},
        previous_origin_pulls=stack_output_now(this_stack, ORIGIN_PULLS_OUTPUT),
    )
    if problems:
        raise ConfigError(problems, [])
    return rules


def _deployed_key_generation(this_stack: pulumi.StackReference) -> int | None:
    return deployed_key_generation(
        stack_output_now(this_stack, "k3sVersion"), stack_output_now(this_stack, DEPLOY_KEY_OUTPUT)
    )


def _running_nodes(this_stack: pulumi.StackReference) -> frozenset[str]:
    """The nodes the stack's last `up` reported (its `nodes` and `agents` outputs)."""
    return frozenset(name for output in ("nodes", "agents") for name in (stack_output_now(this_stack, output) or {}))


def _node_target(handle: NodeHandle) -> NodeTarget:
    """A per-node step (firewall sync, node upgrades) runs after the node's first boot, tied to its server."""
    return NodeTarget(
        index=handle.node.index,
        pool="agent" if handle.node.role == "agent" else "",
        connection=handle.connection,
        after=handle.cloud_init,
        server_id=handle.node.server.id,
    )


def _maintenance(config: StackConfig, apps: Apps, cluster: K3sCluster) -> Maintenance:
    """kured, and Redis snapshots into the etcd snapshot bucket (the stack's off-site bucket) when it is set."""
    m = config.maintenance
    backup = backup_spec(config)
    window = RebootWindow(days=m.reboot_days, start=m.reboot_start, end=m.reboot_end, time_zone=m.reboot_time_zone)
    namespace = apps.objects[f"Namespace//{apps.namespace}"]
    redis_secret = apps.objects[f"Secret/{apps.namespace}/{REDIS_SECRET}"]
    return Maintenance(
        naming.MAINTENANCE,
        MaintenanceArgs(
            spec=apps.spec,
            window=window,
            backup=backup,
            backup_key=(m.redis_backup_access_key, m.redis_backup_secret_key) if backup is not None else None,
        ),
        pulumi.ResourceOptions(
            providers=[cluster.provider], depends_on=[cluster.first_server_ready, namespace, redis_secret]
        ),
    )
