"""K3s HA with embedded etcd, bootstrapped over SSH with pulumi-command; the cluster's Kubernetes provider.

Per server, a chain of remote commands: wait for cloud-init -> write config and install -> wait Ready
(first boot only, replaced with the server: `triggers` on its id), then converge (every later change of
release or config: upgrade, reconfigure, Ready). The genesis server starts the cluster (genesis.py); server
n joins after server n-1 converged, so etcd admits one learner at a time and no server joins while another
restarts, and server n converges after server n-1 did, so changes roll one server at a time. A separate
command per server (`leave`) carries only the `delete` step that drains the node and takes it out of etcd
before its server is destroyed; the leave steps are chained, so a scale-in removes one member at a time.
Agents, if any, join after the last server (components/k3s/agents.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s

from components.config.model import K3sConfig
from components.hetzner.nodes import Node
from components.k3s import node as k3s_node
from components.k3s.agents import AgentSteps, ServerSteps, agent_chain, agent_settings
from components.k3s.deployer import cluster_identifier, deployer_files
from components.k3s.genesis import genesis_of
from components.k3s.kubeconfig import api_server_url, rewrite_server
from components.k3s.node import K3sNodeSettings
from components.k3s.scripts import script_command
from components.k3s.servers import K3sAgent, K3sServer, server_chain, server_settings
from components.k3s.steps import STEP_TIMEOUTS
from components.k3s.token import ClusterToken

__all__ = ["STEP_TIMEOUTS", "K3sCluster", "K3sClusterArgs"]


@dataclass(frozen=True, kw_only=True)
class K3sClusterArgs:
    config: K3sConfig
    """Validated K3s settings."""
    servers: Sequence[K3sServer]
    """The servers in join order; at the first `up` the first one starts the cluster (genesis.py)."""
    agents: Sequence[K3sAgent] = ()
    """Agents; they join in parallel once every server is Ready."""
    previous_genesis: pulumi.Input[str | None] = None
    """Hetzner id of the server that started the cluster (from the stack's own outputs; None before)."""
    cluster_identifier: str | None = None
    """The Kubernetes provider's identity (`deployer.cluster_identifier`); None = `<project>-<stack>`."""
    adopting: bool = False
    """Adopt mode (adoptIds set): adopted nodes get the adopt step, existing Kubernetes objects are taken over."""


class K3sCluster(pulumi.ComponentResource):
    """The cluster on the given servers, and the one Kubernetes provider every Kubernetes resource takes."""

    kubeconfig: pulumi.Output[str]
    api_server: pulumi.Output[str]
    provider: k8s.Provider
    first_server_ready: command.remote.Command
    traefik_crds: command.remote.Command
    """On server 1: the traefik.io CRDs are established (what objects of those kinds wait for)."""
    cloud_init_done: dict[str, command.remote.Command]
    """Each node's first boot (servers and agents), by node name: done, and its host key its own."""
    connections: dict[str, command.remote.ConnectionArgs]
    """SSH to each node pinned to the host key it made after first boot (k3s/host_key.py), by node name."""
    converged: dict[str, command.remote.Command]
    """Each server's converge step by node name: its K3s runs the wanted release and config (what a check of what
    the node serves, e.g. the origin gate, waits for)."""
    leave_steps: dict[str, command.remote.Command]
    """Each server's leave step (drain, out of etcd) by node name: its DNS records go before it."""
    genesis: pulumi.Output[str]
    """Hetzner id of the server that started the cluster, to export as `k3sGenesis`."""
    k3s_version: pulumi.Output[str]
    """The release, known only once the last converge step (servers, then agents) finished."""
    token: ClusterToken
    """The cluster token and where it came from."""

    def __init__(self, name: str, args: K3sClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:k3s:K3sCluster", name, None, opts)
        cfg, servers = args.config, list(args.servers)
        for warning in k3s_node.config_warnings(cfg.kube_proxy_mode):
            pulumi.log.warn(warning, self)
        # Joining servers and agents present this token: the running cluster's (k3sToken), or a generated one.
        # A switch between the two is refused by components.stack.build before anything is registered.
        self.token = ClusterToken(name, cfg.token, self)
        token = self.token.value
        # The step from the release last deployed is checked by components.stack.build, before any
        # resource is registered (components.config.checks.k3s_upgrade).
        version = pulumi.Output.from_input(cfg.version)
        previous_genesis = pulumi.Output.from_input(args.previous_genesis)
        self.genesis = pulumi.Output.all(previous_genesis, *[s.node.server.id for s in servers]).apply(
            lambda v: genesis_of(v[1:], v[0])
        )

        previous_ready: command.remote.Command | None = None
        previous_converge: command.remote.Command | None = None
        previous_leave: command.remote.Command | None = None
        ready_commands, converges = [], []
        self.cloud_init_done, self.leave_steps, self.connections, self.converged = {}, {}, {}, {}
        self.ready_steps: dict[str, command.remote.Command] = {}
        """Per server name, its first-boot wait for Ready (replaced with the server)."""
        self.deploy_key_steps: list[command.remote.Command] = []
        for index, server in enumerate(servers):
            # values = [own IPv4, own IPv6, own id, the recorded genesis, the checked version]; the version only
            # gates the settings.
            def settings_of(values: list[Any], i: int = index) -> K3sNodeSettings:
                return server_settings(cfg, servers, i, values[:3], values[3])

            node = server.node
            settings = pulumi.Output.all(
                node.public_ipv4, node.public_ipv6, node.server.id, previous_genesis, version
            ).apply(settings_of)
            chain = server_chain(
                self,
                name,
                server,
                settings,
                token,
                previous_ready,
                previous_converge,
                previous_leave,
                adopt=args.adopting,
            )
            self.cloud_init_done[node.name] = chain.first_boot
            self.connections[node.name] = chain.connection
            self.leave_steps[node.name] = chain.leave
            self.ready_steps[node.name] = chain.ready
            self.converged[node.name] = chain.converge
            self.deploy_key_steps += [chain.deploy_key] if chain.deploy_key else []
            previous_ready, previous_converge, previous_leave = chain.ready, chain.converge, chain.leave
            ready_commands.append(chain.ready)
            converges.append(chain.converge)
        self.first_server_ready = ready_commands[0]

        first = servers[0]
        first_connection = self.connections[first.node.name]
        after_servers = ServerSteps(
            first_connection=first_connection,
            last_ready=ready_commands[-1],
            last_converge=converges[-1],
            first_remove=self.leave_steps[servers[0].node.name],
        )
        previous_agent: AgentSteps | None = None
        for agent in args.agents:
            # values = [the agent's public IPv4, the checked version]; the version only gates the settings.
            def agent_settings_of(values: list[Any], node: Node = agent.node) -> K3sNodeSettings:
                return agent_settings(cfg, node, first.node, values[0])

            settings = pulumi.Output.all(agent.node.public_ipv4, version).apply(agent_settings_of)
            previous_agent = agent_chain(
                self, name, agent.node, agent.connection, settings, token, after_servers, previous_agent
            )
            self.cloud_init_done[agent.node.name] = previous_agent.cloud_init
            self.connections[agent.node.name] = previous_agent.connection
            self.deploy_key_steps += [previous_agent.deploy_key] if previous_agent.deploy_key else []
        # Exported as k3sVersion, the next `up`'s upgrade gate: only once the last converge step finished
        # (its registration completes after the step ran). A failed converge fails this Output, and the
        # stack's outputs, which the engine only takes from the program's final RegisterResourceOutputs,
        # keep the release that was really deployed.
        last_step = previous_agent.settled if previous_agent else converges[-1]
        self.k3s_version = pulumi.Output.all(last_step.id, version).apply(lambda v: str(v[1]))

        fetch = command.remote.Command(
            f"{name}-kubeconfig",
            connection=first_connection,
            # A ServiceAccount token kubeconfig, not K3s's 365-day admin certificate (k3s/deployer.py); it
            # also waits for the helm.cattle.io CRDs, so nothing using the provider races their creation.
            create=script_command("deployer-kubeconfig", deployer_files()),
            # The kubeconfig holds a cluster-admin token: never in logs, never plaintext in state.
            logging=command.remote.Logging.NONE,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[ready_commands[0]],
                custom_timeouts=STEP_TIMEOUTS,
                additional_secret_outputs=["stdout", "stderr"],
            ),
        )
        # Traefik's Middlewares (components/k8s/client_ip.py) are objects of a CRD K3s installs only after it
        # started: on a new cluster they wait for this, not for pulumi-kubernetes' short retries.
        self.traefik_crds = command.remote.Command(
            f"{name}-traefik-crds",
            connection=first_connection,
            create=script_command("wait-traefik-crds", []),
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[ready_commands[0]], custom_timeouts=STEP_TIMEOUTS),
        )
        endpoint = pulumi.Output.from_input(cfg.api_dns_name or first.node.public_ipv4)
        self.api_server = endpoint.apply(api_server_url)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(fetch.stdout, endpoint).apply(lambda v: rewrite_server(v[0], v[1]))
        )
        self._name = name
        self._adopting = args.adopting
        self._identifier = args.cluster_identifier or cluster_identifier(pulumi.get_project(), pulumi.get_stack())

    def connect(self, api_endpoint_ready: Sequence[pulumi.Resource] = ()) -> k8s.Provider:
        """Creates the one Kubernetes provider, after `api_endpoint_ready` (the DNS records of apiDnsName:
        the API name must resolve before the provider dials it on a first `up`), and completes the component.

        A step of its own because those records come after the cluster's leave steps (a server's records go
        before its drain), so they can't exist yet while the constructor runs.
        """
        self.provider = k8s.Provider(
            f"{self._name}-k8s",
            kubeconfig=self.kubeconfig,
            # Only a change of this replaces the provider (and every object): a new API address, CA or token
            # is an update (provider.go DiffConfig; see deployer.cluster_identifier).
            cluster_identifier=self._identifier,
            # A changed Secret is patched in place instead of replaced delete-first (provider/pkg/provider/
            # diff.go forceNewProperties); the pods that read it roll through their checksum annotation.
            enable_secret_mutable=True,
            # Adopt mode only: objects that already exist in the running cluster are taken over instead of
            # failing with "already exists" (GUIDE.md section 3). Outside it a create that meets a live object
            # fails, as it should: that object belongs to something else. Turning it off later is an update of
            # the provider, not a replacement (provider.go DiffConfig).
            upsert_existing_objects=self._adopting,
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(api_endpoint_ready)),
        )
        self.register_outputs(
            {"apiServer": self.api_server, "kubeconfig": self.kubeconfig, "k3sVersion": self.k3s_version}
        )
        return self.provider
