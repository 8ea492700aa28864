"""The adopt step of a node built by hand: fail fast when SSH or K3s is not as adoption needs, else record
the node's running config so that install and converge leave it running (scripts/k3s/adopt.sh)."""

from __future__ import annotations

import pulumi
import pulumi_command as command

from components.hetzner.nodes import Node
from components.k3s.steps import step_options, step_text
from components.remote import RemoteFile


def adopt_step(
    parent: pulumi.Resource,
    prefix: str,
    node: Node,
    connection: command.remote.ConnectionArgs,
    env: pulumi.Output[list[RemoteFile]],
) -> command.remote.Command | None:
    """`<prefix>-adopt` before the node's first step, for a node adopted with its own host key; else None.

    Only in adopt mode: when adoptIds is cleared the command leaves the program, and its deletion runs
    nothing (it has no `delete`). The text is held like the other first-boot steps.
    """
    if not node.adopted:
        return None
    return command.remote.Command(
        f"{prefix}-adopt",
        create=step_text("adopt", env),
        connection=connection,
        add_previous_output_in_env=False,
        opts=step_options(parent, node.server, first_boot="create"),
    )
