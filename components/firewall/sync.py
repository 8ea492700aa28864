"""Re-applies the node firewall over SSH when its rules change (e.g. Cloudflare publishes new ranges).

cloud-init runs the script once at first boot and user_data is held by ignore_changes, so without this
step a change of the rule model would never reach running nodes. No server is replaced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.anatomy import NodeTarget
from components.firewall.ufw import FIREWALL_SCRIPT_PATH
from components.remote import RemoteFile, remote_command

# The connection dials forever (dial_error_limit=-1, components/hetzner/nodes.py); these cancel the
# provider's context (pulumi-go-provider v1.3.0 middleware/cancel: context.WithTimeout(req.Timeout)),
# which ends the dialing (retry.Until(ctx) in pulumi-command's remote/connection.go).
SYNC_TIMEOUTS = pulumi.CustomTimeouts(create="10m", update="10m", delete="5m")
# The script converges UFW in seconds; a running session ignores that context, so the node bounds it.
SYNC_TIME_LIMIT = 5 * 60


@dataclass(frozen=True, kw_only=True)
class FirewallSyncArgs:
    ufw_script: str
    """The rendered script (components.firewall.NodeFirewall.ufw_script)."""
    ranges_etag: str
    """Cloudflare's etag of its published ranges: a change re-runs the script everywhere."""
    targets: Sequence[NodeTarget]
    """The nodes."""


class FirewallSync(pulumi.ComponentResource):
    """One remote step per node that installs the current script and converges UFW onto it."""

    def __init__(self, name: str, args: FirewallSyncArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:firewall:FirewallSync", name, None, opts)
        # The node keeps its copy current, and the script itself is the step (it is idempotent).
        text = remote_command(
            [RemoteFile(FIREWALL_SCRIPT_PATH, "0755", args.ufw_script)], args.ufw_script, time_limit=SYNC_TIME_LIMIT
        )
        self.steps: list[command.remote.Command] = []
        """One per node: what needs the node's current firewall (and its sysctls) waits for these."""
        for target in args.targets:
            step = command.remote.Command(
                target.step_name(name),
                connection=target.connection,
                create=text,
                # A new etag re-runs it everywhere; a new server (replaced) re-runs it there. Only `triggers`
                # replaces a Command; a new connection alone would be an update (pulumi-command #447, #159).
                triggers=[args.ranges_etag, target.server_id],
                add_previous_output_in_env=False,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[target.after], custom_timeouts=SYNC_TIMEOUTS),
            )
            self.steps.append(step)
        self.register_outputs({"etag": args.ranges_etag})
