"""Unattended security upgrades on every node: new nodes get them from cloud-init, running nodes from a
remote step, because user_data runs once and is held by ignore_changes (components/hetzner/nodes.py).

Pure parts (`apt_files`, `upgrade_command`) are plain values in, text out; `NodeUpgrades` runs the text
over SSH on each node. Reboots are not done here: unattended-upgrades leaves /var/run/reboot-required
(update-notifier-common) and kured (components/k8s/kured.py) reboots one node at a time with a drain.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_command as command

from components.anatomy import NodeTarget
from components.remote import RemoteFile, remote_command

PACKAGES = ("unattended-upgrades", "update-notifier-common")
SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "node" / "unattended-upgrades.sh"
PERIODIC_PATH = "/etc/apt/apt.conf.d/20auto-upgrades"
SETTINGS_PATH = "/etc/apt/apt.conf.d/52honeydue-unattended-upgrades"

# The two switches Ubuntu's `dpkg-reconfigure unattended-upgrades` writes (20auto-upgrades).
PERIODIC = """APT::Periodic::Update-Package-Lists "1";
APT::Periodic::Unattended-Upgrade "1";
"""
# Read after Ubuntu's 50unattended-upgrades (apt reads apt.conf.d in lexical order; a later scalar
# wins, list entries add up). Security pockets only; kured does the reboots, so never reboot here.
SETTINGS = """// Managed by the Honeydue stack (components/hetzner/upgrades.py); edits are overwritten.
Unattended-Upgrade::Allowed-Origins {
        "${distro_id}:${distro_codename}-security";
        "${distro_id}ESMApps:${distro_codename}-apps-security";
        "${distro_id}ESM:${distro_codename}-infra-security";
};
Unattended-Upgrade::Automatic-Reboot "false";
Unattended-Upgrade::Remove-Unused-Kernel-Packages "true";
"""


def apt_files() -> list[RemoteFile]:
    """The apt settings every node carries."""
    return [RemoteFile(PERIODIC_PATH, "0644", PERIODIC), RemoteFile(SETTINGS_PATH, "0644", SETTINGS)]


# Bounded like every remote step (issue 11 item 8): the connection dials forever (dial_error_limit=-1), so
# custom timeouts cancel the provider's context; a running session ignores it, so the node bounds the script
# too. apt can wait minutes for the daily apt job's lock (apt-get -o DPkg::Lock::Timeout in the script).
UPGRADE_TIMEOUTS = pulumi.CustomTimeouts(create="20m", update="20m", delete="5m")
UPGRADE_TIME_LIMIT = 15 * 60


def upgrade_command() -> str:
    """The remote step's text: write the settings, install what is missing, check what apt merged."""
    return remote_command(apt_files(), SCRIPT.read_text(), time_limit=UPGRADE_TIME_LIMIT)


@dataclass(frozen=True, kw_only=True)
class NodeUpgradesArgs:
    targets: Sequence[NodeTarget]
    """The nodes."""


class NodeUpgrades(pulumi.ComponentResource):
    """One remote step per node; it re-runs when its text changes (an update of a Command without an
    `update` runs `create` again: pulumi-command provider/pkg/provider/remote/commandController.go)."""

    def __init__(self, name: str, args: NodeUpgradesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:nodes:NodeUpgrades", name, None, opts)
        text = upgrade_command()
        for target in args.targets:
            command.remote.Command(
                target.step_name(name),
                connection=target.connection,
                create=text,
                triggers=[target.server_id],
                add_previous_output_in_env=False,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[target.after], custom_timeouts=UPGRADE_TIMEOUTS),
            )
        self.register_outputs({"packages": list(PACKAGES)})
