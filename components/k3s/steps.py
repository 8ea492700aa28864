"""The remote steps the K3s cluster is made of: their bounds, options and command text."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_command as command

from components.k3s.node import K3sNodeSettings, secrets_yaml
from components.k3s.scripts import script_command
from components.remote import RemoteFile

# Bounds of each remote step (a booting server, a drain). The engine hands them to the provider, whose
# context they cancel (pulumi-go-provider v1.3.0 middleware/cancel); that ends the endless dialing of
# dial_error_limit=-1 (retry.Until(ctx), pulumi-command v1.2.1 remote/connection.go) but not a running
# session (session.Run takes no context, remote/commandOutputs.go): the node bounds the script itself
# (scripts.STEP_TIME_LIMIT), and each script bounds its own waits.
STEP_TIMEOUTS = pulumi.CustomTimeouts(create="30m", update="45m", delete="20m")

# What a first-boot step runs on an in-place update. pulumi-command runs `update`, or `create` when there is
# no `update`, on every update (provider/pkg/provider/remote/commandController.go, Update), and a change of
# `connection` alone is an update (pulumi-command #447, #159). With ignore_changes=["create"] that `create`
# is the text recorded at first boot (old release, old config.yaml): without this it would be replayed onto
# the running node. A new server replaces the step instead (triggers), and a replacement creates from the
# program's current inputs, not the held ones (pulumi/pulumi pkg/resource/deploy/step_generator.go:
# "If we are going to perform a replacement, we need to recompute the default values", Check on the goal).
NO_REPLAY = "echo 'first-boot step: an update runs nothing; a new server replaces this step'"


def reconnect(
    connection: command.remote.ConnectionArgs,
    *,
    private_key: pulumi.Input[str] | None = None,
    host_key: pulumi.Input[str] | None = None,
) -> command.remote.ConnectionArgs:
    """`connection` with another login key or another pinned host key; every other setting kept."""
    return command.remote.ConnectionArgs(
        host=connection.host,
        user=connection.user,
        private_key=connection.private_key if private_key is None else private_key,
        host_key=connection.host_key if host_key is None else host_key,
        dial_error_limit=connection.dial_error_limit,
        per_dial_timeout=connection.per_dial_timeout,
    )


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
        # the server replaces them (triggers) and so runs them again.
        ignore_changes=([first_boot, *(["stdin"] if holds_stdin else [])]) if first_boot else None,
        additional_secret_outputs=["stdout", "stderr"] if secret else None,
    )


def once_per_server(server_id: pulumi.Input[str]) -> dict[str, Any]:
    """Inputs of a step that runs once per server: replaced with the server, inert on any other update.

    `triggers` is the only input whose change replaces a pulumi-command Command: the SDK registers every
    Command with `replace_on_changes=["triggers[*]"]` (pulumi_command 1.2.1 remote/command.py,
    `_internal_init`; the provider's own Diff misses the nested path, an independent review found). Being a
    property dependency on the server, it also puts the step into the set the engine deletes before a
    delete_before_replace server (calculateDependentReplacements: only dependents whose Diff says replace,
    dependsOn edges alone never do).
    """
    return {"triggers": [server_id], "update": NO_REPLAY}


LEAVE_REFUSED = "# honeydue: this node is protected and refuses to leave"
"""First line of the delete script of a protected node's leave step (offline.scenarios reads it)."""


def refuse_to_leave(node: str) -> str:
    """The delete script of a protected node's leave step: it fails before anything is drained.

    The engine deletes the leave step before the server (a dependent first, and delete-first on a replace),
    but the server's delete fails while Hetzner's or Pulumi's protection holds: draining and leaving etcd
    first would strand the cluster at 2 of 3 members. A failed delete cancels the rest of the `up`
    (pulumi/pulumi pkg/resource/deploy/step_executor.go L459-L460): the server and everything deleted after
    the leave step stay; what was deleted before it (on a scale-in the node's DNS records, which wait for it)
    is gone, and the node keeps running in the cluster without them until it is released.
    """
    return (
        f"{LEAVE_REFUSED}\n"
        f"echo 'honeydue: {node} is protected, so its server can not be deleted; nothing was drained. Name it in "
        "honeydue:replaceableNodes, run pulumi up, then replace or remove it (docs/runbook.md, Replace a node).' >&2\n"
        "exit 1\n"
    )


def leave_step(
    parent: pulumi.Resource,
    name: str,
    *,
    legacy_name: str,
    connection: command.remote.ConnectionArgs,
    delete: pulumi.Input[str],
    node: str,
    protected: bool,
    server_id: pulumi.Input[str],
    after: Sequence[pulumi.Resource | None],
) -> command.remote.Command:
    """A delete-only step that takes a node out of the cluster before its server goes, and its inert predecessor.

    The step carries `triggers` on its server's id, so a replaced server runs it (on the old server, with the
    old connection from state) before the server is deleted. Adding `triggers` to a step that already exists
    would replace it, and replacing a delete-only step runs its delete: on every running node at once. So
    the step has a new name, and the step of that name deployed before (`legacy_name`, no triggers) stays
    registered, without text, with retain_on_delete: the engine never calls Delete on it, also not when
    it leaves the program (https://www.pulumi.com/docs/iac/concepts/options/retainondelete/).

    While `node` is `protected` the delete script refuses (refuse_to_leave): what runs on a delete is the
    text in the state, so the `up` that releases the node (replaceableNodes) writes the real script with an
    update, which runs nothing (no create, no update: commandController.go Update), in the same `up` that
    lifts the server's protections. The replacement or removal that follows then finds both ready.
    """
    command.remote.Command(
        legacy_name,
        connection=connection,
        add_previous_output_in_env=False,
        opts=pulumi.ResourceOptions(
            parent=parent, custom_timeouts=STEP_TIMEOUTS, ignore_changes=["delete"], retain_on_delete=True
        ),
    )
    return command.remote.Command(
        name,
        delete=refuse_to_leave(node) if protected else delete,
        connection=connection,
        add_previous_output_in_env=False,
        # No `update`: with neither `create` nor `update` an update runs nothing, not even a dial (Update in
        # commandController.go).
        triggers=[server_id],
        opts=step_options(parent, *after),
    )
