"""Rotating the deploy key (deployKeyGeneration): each running node authorizes the next key before any step
logs in with it.

Why a step of our own (terraform-provider-hcloud v1.68.0, internal/server and internal/sshkey): a server only
receives Hetzner SSH keys at creation and its `ssh_keys` are held by ignore_changes (they force a
replacement), so a new key reaches no running node; and Hetzner refuses a second SSH key with the same name
(or fingerprint), so each generation has a resource and a name of its own (hetzner.nodes.deploy_key_name)
and create-first works. During the `up` that moves to generation N, every node that existed before logs in
once more with key N-1 to put key N in root's authorized_keys and drop N-1 (scripts/node/authorize-deploy-key
.sh); every later step on that node waits for it through its connection's private key. New nodes get key N
from Hetzner at creation. A change of `connection` is an update of each later step (pulumi-command Update
runs `update`, or `create` again): the first-boot steps run NO_REPLAY, converge, the firewall sync, the
upgrades and the kubeconfig run again, idempotent.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_command as command

from components.hetzner.nodes import Node
from components.k3s.steps import reconnect, step_options
from components.remote import RemoteFile, remote_command

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "node" / "authorize-deploy-key.sh"
KEYS_PATH = "/etc/honeydue/deploy-keys"
TIME_LIMIT = 60


def authorize_command(new_public_key: str, previous_public_key: str) -> str:
    """The command text of the step: the two public keys, then the script (no secret in it)."""
    keys = RemoteFile(KEYS_PATH, "0644", f"{new_public_key.strip()}\n{previous_public_key.strip()}\n")
    return remote_command([keys], SCRIPT.read_text(encoding="utf-8"), time_limit=TIME_LIMIT)


def authorize_deploy_key(
    parent: pulumi.Resource,
    prefix: str,
    node: Node,
    connection: command.remote.ConnectionArgs,
    after: pulumi.Resource,
) -> tuple[command.remote.Command | None, command.remote.ConnectionArgs]:
    """The step that authorizes the new deploy key on a running node, and the connection every later step
    uses (the new key, once the step ran). None and `connection` as it is when the node has nothing to do."""
    rotation = node.deploy_key_rotation
    if rotation is None:
        return None, connection
    step = command.remote.Command(
        f"{prefix}-deploy-key-{rotation.generation}",
        create=pulumi.Output.all(rotation.public_key, rotation.previous_public_key).apply(
            lambda keys: authorize_command(keys[0], keys[1])
        ),
        connection=reconnect(connection, private_key=rotation.previous_private_key),
        add_previous_output_in_env=False,
        opts=step_options(parent, after),
    )
    key_after_step: pulumi.Output[str] = pulumi.Output.all(step.id, connection.private_key).apply(lambda v: str(v[1]))
    private_key: pulumi.Output[str] = pulumi.Output.secret(key_after_step)
    return step, reconnect(connection, private_key=private_key)
