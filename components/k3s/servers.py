"""One K3s server: the node it runs on, its settings, and its chain of remote commands (the K3sCluster's parts)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_command as command

from components.config.model import K3sConfig
from components.hetzner.nodes import Node
from components.k3s import node as k3s_node
from components.k3s import scripts as k3s_scripts
from components.k3s.adopt import adopt_step
from components.k3s.deploy_key import authorize_deploy_key
from components.k3s.genesis import join_target, server_role
from components.k3s.host_key import first_boot_options, rotate_host_key
from components.k3s.kubeconfig import api_server_url
from components.k3s.node import K3sNodeSettings, node_env, node_files
from components.k3s.steps import leave_step, once_per_server, step_options, step_stdin, step_text
from components.remote import RemoteFile


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


def server_settings(
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


@dataclass(frozen=True)
class ServerChain:
    """The steps of one server that others wait for, and how later steps reach it."""

    first_boot: command.remote.Command
    """Its first boot has finished and its host key is its own (the re-key step; cloud-init's when adopted)."""
    ready: command.remote.Command
    converge: command.remote.Command
    leave: command.remote.Command
    connection: command.remote.ConnectionArgs
    """SSH pinned to the node's own host key: what every step after first boot uses."""
    deploy_key: command.remote.Command | None = None
    """The step that authorized a new deploy key on the node in this `up` (deployKeyGeneration), if any."""


def server_chain(
    parent: pulumi.Resource,
    name: str,
    server: K3sServer,
    settings: pulumi.Output[K3sNodeSettings],
    token: pulumi.Output[str],
    previous_ready: command.remote.Command | None,
    previous_converge: command.remote.Command | None,
    previous_leave: command.remote.Command | None,
    *,
    adopt: bool = False,
) -> ServerChain:
    """The steps of one server, children of `parent`: cloud-init -> install -> Ready (first boot only), then
    converge (every later change); and leave."""
    prefix = f"{name}-{server.node.index}"
    server_id = server.node.server.id
    env = settings.apply(lambda s: [RemoteFile(k3s_node.ENV_PATH, "0644", node_env(s))])
    # No secret in these files: the token and the S3 keys go on stdin, so the text stays readable.
    files = settings.apply(lambda s: [*node_files(s), *k3s_scripts.converge_files()])
    secrets = step_stdin(settings, token)

    def opts(
        *after: pulumi.Resource | None, first_boot: str | None = None, secret: bool = False
    ) -> pulumi.ResourceOptions:
        return step_options(parent, *after, first_boot=first_boot, secret=secret)

    once = once_per_server(server_id)
    # A node built by hand, adopted now: check it fast and record its config as the one it runs.
    first, deploy_key = server.connection, None
    if server.node.adopted:
        # An adopted node's first steps don't hold their connection (its host key is its own, never retired):
        # a new deploy key is authorized before them, or they would dial with a key the node lacks.
        deploy_key, first = authorize_deploy_key(parent, prefix, server.node, first, server.node.server)
    adopted = adopt_step(parent, prefix, server.node, first, env) if adopt else None
    cloud_init = command.remote.Command(
        f"{prefix}-cloud-init",
        create=step_text("wait-cloud-init", env),
        connection=first,
        add_previous_output_in_env=False,
        **once,
        # Pinned to the bootstrap key, which the re-key step retires: held like it (host_key.py).
        opts=first_boot_options(server.node, opts(server.node.server, adopted, first_boot="create")),
    )
    # Every later step pins the key the node made itself after first boot (host_key.py).
    rekey, connection = rotate_host_key(parent, prefix, server.node, first, cloud_init)
    if rekey is not None:
        # A new deploy key is authorized on the running node, over its own host key, before any later step.
        deploy_key, connection = authorize_deploy_key(parent, prefix, server.node, connection, rekey)
    common = {"connection": connection, "add_previous_output_in_env": False}
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
            parent,
            rekey or cloud_init,
            previous_ready,
            previous_converge,
            first_boot="create",
            secret=True,
            holds_stdin=True,
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
        parent,
        f"{prefix}-leave",
        legacy_name=f"{prefix}-remove",
        connection=connection,
        delete=step_text("remove", env),
        node=server.node.name,
        protected=server.node.protected,
        server_id=server_id,
        after=[previous_leave],
    )
    return ServerChain(
        first_boot=rekey or cloud_init,
        ready=ready,
        converge=converge,
        leave=leave,
        connection=connection,
        deploy_key=deploy_key,
    )
