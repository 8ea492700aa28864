"""One step per server that waits until the node serves the site; its proxied DNS records wait for it.

Cloudflare (Free plan) has no origin health checks: every proxied record is an origin it sends requests to,
serving or not. So a record exists only while its node serves: it is created after this step (a new or
replaced server, a released one coming back), and a node's records are withdrawn by the `up` that releases
it (`replaceableNodes`, components/edge/dns.py), before any later `up` stops it.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_command as command

from components.anatomy import NodeTarget
from components.remote import remote_command

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "edge" / "wait-serving.sh"
# A node's Traefik binds 80 seconds after its Node is Ready (a DaemonSet pod: image pull, start); the landing
# page answers once a backend is Ready anywhere in the cluster. Ten minutes, like wait-ready.sh's bound.
SERVING_TIMEOUT = 600
POLL_INTERVAL = 5
STEP_TIMEOUTS = pulumi.CustomTimeouts(create="15m", update="15m", delete="5m")
RELEASED = "echo 'released (replaceableNodes): no DNS record and no pool endpoint until it leaves the list'"
"""The step of a released server: nothing to wait for, and leaving the list replaces it with the real check."""
UPDATE = "echo 'serving step: an update checks nothing (its records exist); a new or returning server replaces it'"


def serving_script(host: str, *, timeout: int = SERVING_TIMEOUT, poll: float = POLL_INTERVAL) -> str:
    """scripts/edge/wait-serving.sh with its inputs assigned in front (shell-quoted)."""
    return f"SERVING_HOST={shlex.quote(host)}\nSERVING_TIMEOUT={timeout}\nPOLL_INTERVAL={poll}\n" + SCRIPT.read_text(
        encoding="utf-8"
    )


@dataclass(frozen=True, kw_only=True)
class ServingArgs:
    host: str
    """The Host header the check asks for: the apex, whose landing page every node's Traefik routes."""
    targets: Sequence[NodeTarget]
    """The servers (the records point at servers only); `after` of each is its wait for Ready."""
    after: Sequence[pulumi.Resource]
    """What makes a node serve at all: Traefik's HelmChartConfig (hostNetwork) and the apps' Ingresses."""
    released: frozenset[int] = frozenset()
    """Indices of the servers named in replaceableNodes: they have no records, and their step checks nothing."""


class Serving(pulumi.ComponentResource):
    """Per server, a step that exits once the node's own Traefik answers the landing page (2xx)."""

    steps: dict[int, command.remote.Command]
    """Per server index, its step."""

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:edge:Serving", name, None, opts)
        script = serving_script(args.host)
        text = remote_command([], script, time_limit=SERVING_TIMEOUT + 60)
        # Bounded like every other text a node runs, though they only echo.
        released, update = (remote_command([], t, time_limit=60) for t in (RELEASED, UPDATE))
        self.steps = {
            target.index: command.remote.Command(
                target.step_name(name),
                connection=target.connection,
                create=released if target.index in args.released else text,
                # Only `triggers` replaces a Command, so the step runs again, checking afresh before the records
                # come back, for a new server and for a server leaving replaceableNodes (released -> serving).
                # An update of an existing node's step (a new apex) has nothing to wait for: its records exist.
                triggers=[target.server_id, "released" if target.index in args.released else "serving"],
                update=update,
                add_previous_output_in_env=False,
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[target.after, *args.after], custom_timeouts=STEP_TIMEOUTS
                ),
            )
            for target in args.targets
        }
        self.register_outputs({"host": args.host})
