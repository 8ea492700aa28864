"""The remote steps the K3s cluster is made of: their bounds, options and command text."""

from __future__ import annotations

import pulumi

from components.k3s.node import script_command
from components.remote import RemoteFile

# Bounds of each remote step (a booting server, a drain); the scripts have their own, shorter timeouts.
STEP_TIMEOUTS = pulumi.CustomTimeouts(create="30m", update="45m", delete="20m")


def step_text(
    script: str, files: pulumi.Output[list[RemoteFile]], *, env_file: str | None = None
) -> pulumi.Output[str]:
    """The command text that writes `files` (and lib.sh) and runs scripts/k3s/<script>.sh (secret when `files` is)."""
    return files.apply(lambda fs: script_command(script, fs, env_file=env_file))


def step_options(
    parent: pulumi.Resource, *after: pulumi.Resource | None, first_boot: str | None = None, secret: bool = False
) -> pulumi.ResourceOptions:
    """Options of one step: after `after`, bounded, and held or secret as the step needs."""
    return pulumi.ResourceOptions(
        parent=parent,
        depends_on=[a for a in after if a is not None],
        custom_timeouts=STEP_TIMEOUTS,
        # First-boot steps never re-run on an edit (the converge step applies edits); a replacement of
        # the server replaces them and so runs them again.
        ignore_changes=[first_boot] if first_boot else None,
        additional_secret_outputs=["stdout", "stderr"] if secret else None,
    )
