"""The remote steps the K3s cluster is made of: their bounds, options and command text."""

from __future__ import annotations

import pulumi

from components.k3s.node import K3sNodeSettings, script_command, secrets_yaml
from components.remote import RemoteFile

# Bounds of each remote step (a booting server, a drain). The engine hands them to the provider, whose
# context they cancel (pulumi-go-provider v1.3.0 middleware/cancel); that ends the endless dialing of
# dial_error_limit=-1 (retry.Until(ctx), pulumi-command v1.2.1 remote/connection.go) but not a running
# session (session.Run takes no context, remote/commandOutputs.go): the node bounds the script itself
# (node.STEP_TIME_LIMIT), and each script bounds its own waits.
STEP_TIMEOUTS = pulumi.CustomTimeouts(create="30m", update="45m", delete="20m")


def step_text(
    script: str, files: pulumi.Output[list[RemoteFile]], *, env_file: str | None = None
) -> pulumi.Output[str]:
    """The command text that writes `files` (and lib.sh) and runs scripts/k3s/<script>.sh; it holds no secret."""
    return files.apply(lambda fs: script_command(script, fs, env_file=env_file))


def step_stdin(settings: pulumi.Output[K3sNodeSettings], token: pulumi.Input[str]) -> pulumi.Output[str]:
    """What install and converge get on stdin (pulumi-command `stdin`): the secrets drop-in, always secret.

    The token and the S3 keys reach the node only through the SSH channel's stdin, so the `create` text
    stays readable in a preview and no secret is on a node's command line. pulumi-command v1.2.1 has the
    input on remote commands (provider/cmd/pulumi-resource-command/schema.json L458, command:remote:Command
    inputProperties.stdin, https://github.com/pulumi/pulumi-command/blob/v1.2.1/provider/cmd/pulumi-resource-command/schema.json#L458)
    and hands it to the session on create, update and delete (provider/pkg/provider/remote/commandOutputs.go
    L73-75, session.Stdin = strings.NewReader(*c.Stdin)).
    """
    rendered = pulumi.Output.all(settings, token).apply(lambda v: secrets_yaml(v[0], v[1]))
    return pulumi.Output.secret(rendered)


def step_options(
    parent: pulumi.Resource,
    *after: pulumi.Resource | None,
    first_boot: str | None = None,
    secret: bool = False,
    holds_stdin: bool = False,
) -> pulumi.ResourceOptions:
    """Options of one step: after `after`, bounded, and held or secret as the step needs.

    `holds_stdin`: a first-boot step that takes stdin holds it too, so a rotated secret re-runs the
    converge step (which takes the same stdin), never the held first-boot text.
    """
    return pulumi.ResourceOptions(
        parent=parent,
        depends_on=[a for a in after if a is not None],
        custom_timeouts=STEP_TIMEOUTS,
        # First-boot steps never re-run on an edit (the converge step applies edits); a replacement of
        # the server replaces them and so runs them again.
        ignore_changes=([first_boot, *(["stdin"] if holds_stdin else [])]) if first_boot else None,
        additional_secret_outputs=["stdout", "stderr"] if secret else None,
    )
