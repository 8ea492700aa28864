"""K3s HA with embedded etcd, bootstrapped over SSH with pulumi-command; the cluster's Kubernetes provider.

Per server, a chain of remote commands: wait for cloud-init -> write config and install -> wait Ready
(first boot only), then converge (every later change of release or config: upgrade, reconfigure, Ready).
Server 1 starts the cluster; server n joins after server n-1 is Ready, so etcd admits one learner at a
time, and server n converges after server n-1 did, so changes roll one server at a time. A separate
command per server carries only the `delete` step that drains the node and takes it out of the cluster
before its server is destroyed. Agents, if any, join after the last server (components/k3s/agents.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_command as command
import pulumi_kubernetes as k8s

from components.config.checks import k3s_upgrade
from components.config.load import ConfigError
from components.config.model import K3sConfig
from components.hetzner.nodes import Node
from components.k3s import node as k3s_node
from components.k3s.adopt import adopt_step
from components.k3s.agents import AgentSteps, ServerSteps, agent_chain, agent_settings
from components.k3s.kubeconfig import api_server_url, rewrite_server
from components.k3s.node import K3sNodeSettings, node_env, node_files, script_command
from components.k3s.steps import STEP_TIMEOUTS, step_options, step_text
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
    """The servers in join order; the first one starts the cluster."""
    agents: Sequence[K3sAgent] = ()
    """Agents; they join in parallel once every server is Ready."""
    previous_version: pulumi.Input[str | None] = None
    """The release the stack last deployed (from its own outputs); an upgrade must go forward one minor."""
    adopting: bool = False
    """Adopt mode (adoptIds set): adopted nodes get the adopt step, existing Kubernetes objects are taken over."""
    previous_token_source: pulumi.Input[str | None] = None
    """Where the last update's token came from (its own output k3sTokenSource); the token never switches."""


def _settings(cfg: K3sConfig, servers: Sequence[K3sServer], index: int, ips: list[str]) -> K3sNodeSettings:
    """Settings of server `index` (0-based); `ips` are every server's public IPv4 then IPv6, in order."""
    node = servers[index].node
    count = len(servers)
    public_v4, public_v6 = ips[:count], ips[count:]
    return K3sNodeSettings(
        node_name=node.name,
        role="init" if index == 0 else "join",
        join_url=None if index == 0 else api_server_url(servers[0].node.private_ip),
        node_ip=node.private_ip,
        # IPv4 only: the cluster is single-stack IPv4 inside, and K3s rejects address families its CIDRs
        # lack; the IPv6 addresses are still in tls-san and served by the hostNetwork Traefik.
        external_ips=(public_v4[index],),
        tls_sans=tuple([*public_v4, *public_v6, *(s.node.private_ip for s in servers)])
        + ((cfg.api_dns_name,) if cfg.api_dns_name else ()),
        cluster=cfg,
    )


def _checked_version(previous: str | None, target: str) -> str:
    problem = k3s_upgrade(previous, target)
    if problem:
        raise ConfigError([f"honeydue:k3sVersion: {problem}"], [])
    return target


class K3sCluster(pulumi.ComponentResource):
    """The cluster on the given servers, and the one Kubernetes provider every Kubernetes resource takes."""

    kubeconfig: pulumi.Output[str]
    api_server: pulumi.Output[str]
    provider: k8s.Provider
    first_server_ready: command.remote.Command
    cloud_init_done: dict[str, command.remote.Command]
    """Each node's first boot (servers and agents), by node name."""
    token: ClusterToken
    """The cluster token and where it came from."""

    def __init__(self, name: str, args: K3sClusterArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:k3s:K3sCluster", name, None, opts)
        cfg, servers = args.config, list(args.servers)
        for warning in k3s_node.config_warnings(cfg.kube_proxy_mode):
            pulumi.log.warn(warning, self)
        # Joining servers and agents present this token: the running cluster's, or a generated one.
        self.token = ClusterToken(name, cfg.token, args.previous_token_source, self)
        token = self.token.value
        # Every server's public addresses go into every server's tls-san.
        public_ips = pulumi.Output.all(*[s.node.public_ipv4 for s in servers], *[s.node.public_ipv6 for s in servers])
        version = pulumi.Output.from_input(args.previous_version).apply(
            lambda prev: _checked_version(prev, cfg.version)
        )

        previous_ready: command.remote.Command | None = None
        previous_converge: command.remote.Command | None = None
        ready_commands, converges, removes = [], [], []
        self.cloud_init_done = {}
        for index, server in enumerate(servers):
            # values = [every public IP, the checked version]; the version only gates the settings.
            def settings_of(values: list[Any], i: int = index) -> K3sNodeSettings:
                return _settings(cfg, servers, i, values[0])

            settings = pulumi.Output.all(public_ips, version).apply(settings_of)
            cloud_init, ready, converge, remove = self._server_chain(
                name, server, settings, token, previous_ready, previous_converge, adopt=args.adopting
            )
            self.cloud_init_done[server.node.name] = cloud_init
            previous_ready, previous_converge = ready, converge
            ready_commands.append(ready)
            converges.append(converge)
            removes.append(remove)
        self.first_server_ready = ready_commands[0]

        first = servers[0]
        after_servers = ServerSteps(
            first_connection=first.connection,
            last_ready=ready_commands[-1],
            last_converge=converges[-1],
            first_remove=removes[0],
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

        fetch = command.remote.Command(
            f"{name}-kubeconfig",
            connection=first.connection,
            create=script_command("fetch-kubeconfig", []),
            # The kubeconfig holds the cluster-admin key: never in logs, never plaintext in state.
            logging=command.remote.Logging.NONE,
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[ready_commands[0]], additional_secret_outputs=["stdout", "stderr"]
            ),
        )
        endpoint = pulumi.Output.from_input(cfg.api_dns_name or first.node.public_ipv4)
        self.api_server = endpoint.apply(api_server_url)
        self.kubeconfig = pulumi.Output.secret(
            pulumi.Output.all(fetch.stdout, endpoint).apply(lambda v: rewrite_server(v[0], v[1]))
        )
        self.provider = k8s.Provider(
            f"{name}-k8s",
            kubeconfig=self.kubeconfig,
            # Adopt mode only: objects that already exist in the running cluster are taken over instead of
            # failing with "already exists" (GUIDE.md section 3). Outside it a create that meets a live object
            # fails, as it should: that object belongs to something else.
            upsert_existing_objects=args.adopting,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"apiServer": self.api_server, "kubeconfig": self.kubeconfig})

    def _server_chain(
        self,
        name: str,
        server: K3sServer,
        settings: pulumi.Output[K3sNodeSettings],
        token: pulumi.Output[str],
        previous_ready: command.remote.Command | None,
        previous_converge: command.remote.Command | None,
        *,
        adopt: bool = False,
    ) -> tuple[command.remote.Command, command.remote.Command, command.remote.Command, command.remote.Command]:
        """cloud-init -> install -> Ready (first boot only), then converge (every later change); and remove."""
        prefix = f"{name}-{server.node.index}"
        env = settings.apply(lambda s: [RemoteFile(k3s_node.ENV_PATH, "0644", node_env(s))])
        # config.yaml carries the token and the S3 keys: the whole command text is secret.
        rendered: pulumi.Output[list[RemoteFile]] = pulumi.Output.all(settings, token).apply(
            lambda v: [*node_files(v[0], v[1]), *k3s_node.converge_files()]
        )
        files: pulumi.Output[list[RemoteFile]] = pulumi.Output.secret(rendered)

        def opts(
            *after: pulumi.Resource | None, first_boot: str | None = None, secret: bool = False
        ) -> pulumi.ResourceOptions:
            return step_options(self, *after, first_boot=first_boot, secret=secret)

        common = {"connection": server.connection, "add_previous_output_in_env": False}
        # A node built by hand, adopted now: check it fast and record its config as the one it runs.
        adopted = adopt_step(self, prefix, server.node, server.connection, env) if adopt else None
        cloud_init = command.remote.Command(
            f"{prefix}-cloud-init",
            create=step_text("wait-cloud-init", env),
            **common,
            opts=opts(server.node.server, adopted, first_boot="create"),
        )
        install = command.remote.Command(
            f"{prefix}-install",
            create=step_text("install", files),
            **common,
            opts=opts(cloud_init, previous_ready, first_boot="create", secret=True),
        )
        ready = command.remote.Command(
            f"{prefix}-ready", create=step_text("wait-ready", env), **common, opts=opts(install, first_boot="create")
        )
        # A new release (cordon -> drain -> install -> Ready -> uncordon) or config, one server after the
        # other; at creation every part of it finds nothing to do.
        converge = command.remote.Command(
            f"{prefix}-converge",
            create=step_text("converge", files),
            **common,
            opts=opts(ready, previous_converge, secret=True),
        )
        # Only a delete step: drain the node and take it out of the cluster (and etcd) before its server
        # goes. No triggers and its text held, so an edit never runs it.
        remove = command.remote.Command(
            f"{prefix}-remove",
            delete=step_text("remove", env),
            **common,
            opts=opts(ready, first_boot="delete"),
        )
        return cloud_init, ready, converge, remove
