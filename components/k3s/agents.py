"""The K3s agents of the cluster: workload-only nodes that join over SSH once every server is Ready.

An agent has no API server and no admin kubeconfig, so everything that needs the API runs on server 1
with the agent's env file: waiting for it to be Ready, draining it before an upgrade, and draining and
deleting its Node before its server is destroyed. Per agent:

    on the agent:   cloud-init -> install ............. converge ............... (uninstall, on delete)
    on server 1:                           ready -> drain ......... -> settle   (remove, on delete)

Agents join in parallel (each install waits for the last server's Ready, never for another agent).
Day-2 changes reach the agents after every server converged (a kubelet must never be newer than the
API servers) and one agent at a time (drain -> converge -> settle, then the next agent), the same
maxUnavailable of 1 as the servers: draining several agents at once would push all their pods onto
the remaining nodes together, and PodDisruptionBudgets would hold the parallel drains anyway.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.config.model import K3sConfig
from components.hetzner.nodes import Node
from components.k3s import node as k3s_node
from components.k3s import scripts as k3s_scripts
from components.k3s.deploy_key import authorize_deploy_key
from components.k3s.host_key import first_boot_options, rotate_host_key
from components.k3s.kubeconfig import api_server_url
from components.k3s.node import K3sNodeSettings, node_env, node_files
from components.k3s.scripts import agent_env_path
from components.k3s.steps import leave_step, once_per_server, step_options, step_stdin, step_text
from components.remote import RemoteFile


@dataclass(frozen=True, kw_only=True)
class ServerSteps:
    """The servers' steps the agents' steps are ordered against."""

    first_connection: command.remote.ConnectionArgs
    """SSH to server 1, which runs every agent step that needs the API."""
    last_ready: command.remote.Command
    """The last server's first-boot Ready: agents join after it."""
    last_converge: command.remote.Command
    """The last server's converge step: agents join and converge after it."""
    first_remove: command.remote.Command
    """Server 1's leave step: on a full destroy it runs after every agent's."""


@dataclass(frozen=True)
class AgentSteps:
    """The steps of one agent other resources wait for."""

    cloud_init: command.remote.Command
    """First boot finished (the firewall script ran) and the host key is the agent's own."""
    connection: command.remote.ConnectionArgs
    """SSH to the agent pinned to the host key it made after first boot (host_key.py)."""
    ready: command.remote.Command
    """The agent joined and is Ready."""
    settled: command.remote.Command
    """The agent's last day-2 change is done: Ready (at the release) and uncordoned."""
    deploy_key: command.remote.Command | None = None
    """The step that authorized a new deploy key on the agent in this `up`, if any."""


def agent_settings(cfg: K3sConfig, agent: Node, join_via: Node, public_ipv4: str) -> K3sNodeSettings:
    """Settings of one agent: only what `k3s agent` takes; the cluster's flags come from the servers."""
    return K3sNodeSettings(
        node_name=agent.name,
        role="agent",
        join_url=api_server_url(join_via.private_ip),
        node_ip=agent.private_ip,
        # IPv4 only, as on the servers: the cluster is single-stack IPv4 inside.
        external_ips=(public_ipv4,),
        tls_sans=(),
        # The cluster's settings; agent_config renders only the agent flags (no S3 keys, no CIDRs).
        cluster=cfg,
    )


def agent_chain(
    parent: pulumi.Resource,
    name: str,
    agent: Node,
    connection: command.remote.ConnectionArgs,
    settings: pulumi.Output[K3sNodeSettings],
    token: pulumi.Output[str],
    servers: ServerSteps,
    previous: AgentSteps | None,
) -> AgentSteps:
    """Every step of one agent; `previous` is the agent before it on the day-2 chain (None: the first)."""
    prefix = f"{name}-agent-{agent.index}"
    env = settings.apply(lambda s: [RemoteFile(k3s_node.ENV_PATH, "0644", node_env(s))])
    # The agent's env file on server 1 at a path of its own (never server 1's /etc/honeydue/k3s.env).
    env_path = agent_env_path(agent.name)
    env_on_server = settings.apply(lambda s: [RemoteFile(env_path, "0644", node_env(s))])
    # No secret in these files: the token goes on stdin, so the text stays readable.
    files = settings.apply(lambda s: [*node_files(s), *k3s_scripts.converge_files()])
    secrets = step_stdin(settings, token)
    on_server = {"connection": servers.first_connection, "add_previous_output_in_env": False}
    # Replaced with the agent's server, inert on any other update (steps.py: once_per_server).
    once = once_per_server(agent.server.id)

    def for_agent(script: str) -> pulumi.Output[str]:
        return step_text(script, env_on_server, env_file=env_path)

    deploy_key = None
    if agent.adopted:
        # As for servers (servers.py): an adopted node's first steps don't hold their connection.
        deploy_key, connection = authorize_deploy_key(parent, prefix, agent, connection, agent.server)
    cloud_init = command.remote.Command(
        f"{prefix}-cloud-init",
        create=step_text("wait-cloud-init", env),
        connection=connection,
        add_previous_output_in_env=False,
        **once,
        # Pinned to the bootstrap key, which the re-key step retires: held like it (host_key.py).
        opts=first_boot_options(agent, step_options(parent, agent.server, first_boot="create")),
    )
    # Every later step on the agent pins the key it made itself after first boot (host_key.py).
    rekey, connection = rotate_host_key(parent, prefix, agent, connection, cloud_init)
    if rekey is not None:
        deploy_key, connection = authorize_deploy_key(parent, prefix, agent, connection, rekey)
    on_agent = {"connection": connection, "add_previous_output_in_env": False}
    install = command.remote.Command(
        f"{prefix}-install",
        create=step_text("install", files),
        stdin=secrets,
        **on_agent,
        **once,
        # The output can quote K3s's journal: not streamed to the log.
        logging=command.remote.Logging.NONE,
        # Never while a server restarts: after the last server's converge step too.
        opts=step_options(
            parent,
            rekey or cloud_init,
            servers.last_ready,
            servers.last_converge,
            first_boot="create",
            secret=True,
            holds_stdin=True,
        ),
    )
    ready = command.remote.Command(
        f"{prefix}-ready",
        create=for_agent("agent-ready"),
        **on_server,
        **once,
        opts=step_options(parent, install, first_boot="create"),
    )
    # Day 2: server 1 drains the agent when its release changes, the agent installs the release or
    # restarts on a new config, server 1 waits for it Ready and uncordons it.
    drain = command.remote.Command(
        f"{prefix}-drain",
        create=for_agent("agent-drain"),
        **on_server,
        opts=step_options(parent, ready, servers.last_converge, previous.settled if previous else None),
    )
    converge_text = step_text("converge", files)
    converge = command.remote.Command(
        f"{prefix}-converge",
        create=converge_text,
        stdin=secrets,
        **on_agent,
        logging=command.remote.Logging.NONE,
        opts=step_options(parent, drain, secret=True),
    )
    settled = command.remote.Command(
        f"{prefix}-settle",
        create=for_agent("agent-ready"),
        # Whatever makes the converge step run again (a release, a config change) runs this one again.
        triggers=[converge_text],
        **on_server,
        opts=step_options(parent, converge),
    )
    # Removal, delete steps only: an edit updates them and runs nothing; replaced with the agent's server,
    # so a new server first removes the old node; refusing while the agent is protected. Pulumi deletes
    # dependents first: server 1 drains and deletes the Node (leave), then the agent uninstalls K3s (wipe),
    # then its server goes. On a full destroy the leave runs before server 1 leaves the cluster itself. The
    # names before `triggers`: steps.leave_step.
    wipe = leave_step(
        parent,
        f"{prefix}-wipe",
        legacy_name=f"{prefix}-uninstall",
        connection=connection,
        delete=step_text("agent-uninstall", env),
        node=agent.name,
        protected=agent.protected,
        server_id=agent.server.id,
        after=[install],
    )
    leave_step(
        parent,
        f"{prefix}-leave",
        legacy_name=f"{prefix}-remove",
        connection=servers.first_connection,
        delete=for_agent("agent-remove"),
        node=agent.name,
        protected=agent.protected,
        server_id=agent.server.id,
        after=[ready, wipe, servers.first_remove],
    )
    return AgentSteps(
        cloud_init=rekey or cloud_init, connection=connection, ready=ready, settled=settled, deploy_key=deploy_key
    )
