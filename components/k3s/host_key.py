"""A node's SSH host key after first boot: its own, not the one its user data carried.

The stack generates each node's bootstrap host key and hands it over in user data, so the very first
connection can pin it. But Hetzner's metadata service serves a server's user data for its whole life, so
right after first boot one step, still pinned to that key, makes the node generate its own
(scripts/node/rotate-host-key.sh) and reports the public half; every later step pins that. From then on
nothing in user data is valid: the K3s token and the S3 keys never travel there (they go on the steps'
stdin, over the rotated connection).

Engine facts this relies on (pulumi-command v1.2.1, commandController.go and connection.go): an unchanged
resource keeps its outputs from the state (the step is never re-run, so the pin stays); `host_key` is parsed
as an authorized key and checked with ssh.FixedHostKey; a change of `connection` is an update of every later
step, which runs `update` (first-boot steps: NO_REPLAY, nothing) or `create` again (converge, firewall sync,
upgrades, the kubeconfig: idempotent), over the new connection, once, on the first `up` that brings this
step to running nodes; a delete runs over the connection in the state.
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_command as command

from components.hetzner.nodes import Node
from components.k3s.steps import once_per_server, reconnect, step_options
from components.remote import remote_command

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "node" / "rotate-host-key.sh"
TIME_LIMIT = 60
# Every input but `triggers`, on the steps pinned to the bootstrap key (cloud-init's wait and this one): they
# must never run again on a node already re-keyed, since their connection pins a key the node no longer
# serves, and an update of this step would also replace its stdout (the pin of every later step) with the
# update's own output. The engine resets ignored inputs to the state's before it diffs (pulumi/pulumi
# step_generator.go), so only a new server (triggers) runs them again, from scratch, with current inputs.
HELD_INPUTS = ["connection", "create", "update", "delete", "environment", "stdin", "logging", "addPreviousOutputInEnv"]


def held_on_bootstrap_key(opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    """`opts` (fresh, from step_options) with every input but `triggers` held too (HELD_INPUTS)."""
    opts.ignore_changes = list(dict.fromkeys([*(opts.ignore_changes or []), *HELD_INPUTS]))
    return opts


def first_boot_options(node: Node, opts: pulumi.ResourceOptions) -> pulumi.ResourceOptions:
    """Options of a node's cloud-init wait: held on the bootstrap key when the node is re-keyed after it."""
    return opts if node.adopted else held_on_bootstrap_key(opts)


def rotation_command() -> str:
    """The command text of the step (no secret in it)."""
    return remote_command([], SCRIPT.read_text(encoding="utf-8"), time_limit=TIME_LIMIT)


def rotate_host_key(
    parent: pulumi.Resource,
    prefix: str,
    node: Node,
    connection: command.remote.ConnectionArgs,
    after: pulumi.Resource,
) -> tuple[command.remote.Command | None, command.remote.ConnectionArgs]:
    """The re-key step of a node we created, and the connection every later step uses (pinned to its output).

    A node built by hand and adopted never had our key in its user data: its own pinned key stays, no step.
    """
    if node.adopted:
        return None, connection
    step = command.remote.Command(
        f"{prefix}-rekey",
        create=rotation_command(),
        connection=connection,
        add_previous_output_in_env=False,
        **once_per_server(node.server.id),
        opts=held_on_bootstrap_key(step_options(parent, after)),
    )
    pinned = step.stdout.apply(lambda out: out.strip())
    return step, reconnect(connection, host_key=pinned)
