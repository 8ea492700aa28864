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
from components.k3s import scripts as k3s_scripts
from components.k3s.adopt import adopt_step
from components.k3s.agents import AgentSteps, ServerSteps, agent_chain, agent_settings
from components.k3s.deployer import cluster_identifier, deployer_files
from components.k3s.genesis import genesis_of, join_target, server_role
from components.k3s.kubeconfig import api_server_url, rewrite_server
from components.k3s.node import K3sNodeSettings, node_env, node_files
from components.k3s.scripts import script_command
from components.k3s.steps import STEP_TIMEOUTS, leave_step, once_per_server, step_options, step_stdin, step_text
from components.k3s.token import ClusterToken
from components.remote import RemoteFile

__all__ = ["STEP_TIMEOUTS", "K3sAgent", "K3sCluster", "K3sClusterArgs", "K3sServer"]


@dataclass(frozen=True, kw_only=True)
class K3sServer:
    """A node to run a K3s server on, and how to reach it."""

    node: Node
    """The Hetzner server."""
    connection: command.remote.ConnectionArgs
    """SSH with the pinned host key."""


@dataclass(frozen=True, kw_only=True)
class K3sAgent(K3sServer):
    """A node to run a K3s agent on (workloads only), and how to reach it."""


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


def _settings(
    cfg: K3sConfig, servers: Sequence[K3sServer], index: int, own: list[Any], genesis: str | None
) -> K3sNodeSettings:
    """Settings of server `index` (0-based); `own` is its public IPv4, public IPv6 and Hetzner id.

    Nothing of another server's outputs goes in: replacing server 2 must not change (restart) servers 1
    and 3. The join target is another server's fixed private IP, the SANs are the node's own addresses and
    the API name (the name every client and the kubeconfig use).
    """
    node = servers[index].node
    public_v4, public_v6, server_id = own
    role = server_role(index, len(servers), server_id, genesis)
    private_ips = [s.node.private_ip for s in servers]
    return K3sNodeSettings(
        node_name=node.name,
        role=role,
        join_url=None if role == "init" else api_server_url(join_target(index, private_ips)),
        node_ip=node.private_ip,
        # IPv4 only: the cluster is single-stack IPv4 inside, and K3s rejects address families its CIDRs
        # lack; the IPv6 address is still in tls-san and served by the hostNetwork Traefik.
        external_ips=(public_v4,),
        tls_sans=(public_v4, public_v6, node.private_ip) + ((cfg.api_dns_name,) if cfg.api_dns_name else ()),
        cluster=cfg,
    )


class K3sCluster(pulumi.ComponentResource):
    """The cluster on the given servers, and the one Kubernetes provider every Kubernetes resource takes."""

    kubeconfig: pulumi.Output[str]
    api_server: pulumi.Output[str]
    provider: k8s.Provider
    first_server_ready: command.remote.Command
    cloud_init_done: dict[str, command.remote.Command]
    """Each node's first boot (servers and agents), by node name."""
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
        self.cloud_init_done, self.leave_steps = {}, {}
        for index, server in enumerate(servers):
            # values = [own IPv4, own IPv6, own id, the recorded genesis, the checked version]; the version only
            # gates the settings.
            def settings_of(values: list[Any], i: int = index) -> K3sNodeSettings:
                return _settings(cfg, servers, i, values[:3], values[3])

            node = server.node
            settings = pulumi.Output.all(
                node.public_ipv4, node.public_ipv6, node.server.id, previous_genesis, version
            ).apply(settings_of)
            cloud_init, ready, converge, leave = self._server_chain(
                name, server, settings, token, previous_ready, previous_converge, previous_leave, adopt=args.adopting
            )
            self.cloud_init_done[node.name] = cloud_init
            self.leave_steps[node.name] = leave
            previous_ready, previous_converge, previous_leave = ready, converge, leave
            ready_commands.append(ready)
            converges.append(converge)
        self.first_server_ready = ready_commands[0]

        first = servers[0]
        after_servers = ServerSteps(
            first_connection=first.connection,
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
        # Exported as k3sVersion, the next `up`'s upgrade gate: only once the last converge step finished
        # (its registration completes after the step ran). A failed converge fails this Output, and the
        # stack's outputs, which the engine only takes from the program's final RegisterResourceOutputs,
        # keep the release that was really deployed.
        last_step = previous_agent.settled if previous_agent else converges[-1]
        self.k3s_version = pulumi.Output.all(last_step.id, version).apply(lambda v: str(v[1]))

        fetch = command.remote.Command(
            f"{name}-kubeconfig",
            connection=first.connection,
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

    def _server_chain(
        self,
        name: str,
        server: K3sServer,
        settings: pulumi.Output[K3sNodeSettings],
        token: pulumi.Output[str],
        previous_ready: command.remote.Command | None,
        previous_converge: command.remote.Command | None,
        previous_leave: command.remote.Command | None,
        *,
        adopt: bool = False,
    ) -> tuple[command.remote.Command, command.remote.Command, command.remote.Command, command.remote.Command]:
        """cloud-init -> install -> Ready (first boot only), then converge (every later change); and leave."""
        prefix = f"{name}-{server.node.index}"
        server_id = server.node.server.id
        env = settings.apply(lambda s: [RemoteFile(k3s_node.ENV_PATH, "0644", node_env(s))])
        # No secret in these files: the token and the S3 keys go on stdin, so the text stays readable.
        files = settings.apply(lambda s: [*node_files(s), *k3s_scripts.converge_files()])
        secrets = step_stdin(settings, token)

        def opts(
            *after: pulumi.Resource | None, first_boot: str | None = None, secret: bool = False
        ) -> pulumi.ResourceOptions:
            return step_options(self, *after, first_boot=first_boot, secret=secret)

        common = {"connection": server.connection, "add_previous_output_in_env": False}
        once = once_per_server(server_id)
        # A node built by hand, adopted now: check it fast and record its config as the one it runs.
        adopted = adopt_step(self, prefix, server.node, server.connection, env) if adopt else None
        cloud_init = command.remote.Command(
            f"{prefix}-cloud-init",
            create=step_text("wait-cloud-init", env),
            **common,
            **once,
            opts=opts(server.node.server, adopted, first_boot="create"),
        )
        install = command.remote.Command(
            f"{prefix}-install",
            create=step_text("install", files),
            stdin=secrets,
            **common,
            **once,
            # Its output can quote K3s's journal: not streamed to the CLI/CI log (`logging` is independent of
            # additional_secret_outputs). A failure still reports the output in its error (commandOutputs.go, run).
            logging=command.remote.Logging.NONE,
            # After the previous server converged too: a joining server never meets a restarting one.
            opts=step_options(
                self, cloud_init, previous_ready, previous_converge, first_boot="create", secret=True, holds_stdin=True
            ),
        )
        ready = command.remote.Command(
            f"{prefix}-ready",
            create=step_text("wait-ready", env),
            **common,
            **once,
            opts=opts(install, first_boot="create"),
        )
        # A new release (cordon -> drain -> install -> Ready -> uncordon) or config, one server after the
        # other; at creation every part of it finds nothing to do.
        converge = command.remote.Command(
            f"{prefix}-converge",
            create=step_text("converge", files),
            stdin=secrets,
            **common,
            logging=command.remote.Logging.NONE,
            opts=opts(ready, previous_converge, secret=True),
        )
        # Only a delete step: drain the node and take it out of the cluster (and etcd) before its server goes
        # (replaced or scaled in). Pulumi deletes dependents first: each leave step depends on the previous
        # server's, so a scale-in by several servers removes their etcd members one at a time, last first.
        # It depends on nothing else (its server through `triggers`): the first-boot steps have no delete
        # to order against, and the DNS records that wait for it are not held back until the node is Ready
        # on the first `up` (offline/critical_path.py).
        leave = leave_step(
            self,
            f"{prefix}-leave",
            legacy_name=f"{prefix}-remove",
            connection=server.connection,
            delete=step_text("remove", env),
            server_id=server_id,
            after=[previous_leave],
        )
        return cloud_init, ready, converge, leave
