"""What every component shares: how its children are parented and ordered, and where a per-node step runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_command as command


def child_options(
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions | None,
    *,
    depends_on: Sequence[pulumi.Resource | None] = (),
    **extra: Any,
) -> pulumi.ResourceOptions:
    """Options of a component's child: parented to it, and ordered after whatever the component is.

    The SDK registers children without their component's `depends_on`, so the engine would not wait for
    what a caller ordered the component after (e.g. the SSL switch); every child gets it explicitly.
    """
    given: Any = (opts.depends_on if opts else None) or []
    inherited: list[Any] = list(given) if isinstance(given, list) else [given]
    wanted = [*inherited, *(d for d in depends_on if d is not None)]
    return pulumi.ResourceOptions(parent=parent, depends_on=wanted or None, **extra)


@dataclass(frozen=True, kw_only=True)
class NodeTarget:
    """One node a per-node remote step runs on (firewall sync, node upgrades), and what ties it there."""

    index: int
    """Node position in its pool (names the step)."""
    pool: str = ""
    """"" for servers, "agent" for agents: steps are named `<name>-<index>` and `<name>-agent-<index>`."""
    connection: command.remote.ConnectionArgs
    """SSH with the pinned host key."""
    after: pulumi.Resource
    """The node's first boot (cloud-init), which the step must not race."""
    server_id: pulumi.Input[str]
    """The node's Hetzner id, for the step's `triggers`: a new server (a replacement) gets the step again as
    a new step; a changed connection alone is only an update (pulumi-command #447, #159)."""

    def step_name(self, prefix: str) -> str:
        """The step's resource name under `prefix` (the component's name)."""
        return f"{prefix}-{self.pool}-{self.index}" if self.pool else f"{prefix}-{self.index}"
