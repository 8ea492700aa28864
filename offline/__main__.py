"""`make plan`: evaluate the program offline and write the plan of a stack to build/plan/."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pulumi
import yaml

from components.hetzner.cloud_init import USER_DATA_LIMIT
from offline import fakes
from offline.harness import run_program
from offline.plan import user_data_headroom, write_plan
from offline.records import Plan
from offline.stack_config import PROJECT_DIR, StackFileError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m offline", description=__doc__)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "build" / "plan")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="try a config change offline: --set sslMode=strict --set 'adminCidrs=[198.51.100.0/24]'",
    )
    parser.add_argument(
        "--deployed",
        type=Path,
        metavar="OUTPUTS.json",
        help="the deployed stack's outputs (`pulumi stack output --json --show-secrets`), so the checks against "
        "what is deployed run: the K3s upgrade gate, the token source, adopted host keys, the deploy key generation",
    )
    parser.add_argument(
        "--live",
        type=Path,
        metavar="DIR",
        help="render the nodes with their real addresses, from DIR/hcloud-servers.json (`hcloud server list -o "
        "json`, docs/migration.md step 2): nodes/<server>/files/etc/rancher/k3s/config.yaml is then what the "
        "stack writes on that node",
    )
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        # Lists as YAML; everything else verbatim, as `pulumi config set` would store it.
        overrides[key.removeprefix("honeydue:")] = yaml.safe_load(value) if value.startswith("[") else value
    started = time.perf_counter()
    try:
        deployed = _deployed_outputs(args.deployed)
        world = fakes.World(addresses=_live_addresses(args.live)) if args.live else fakes.WORLD
        plan = run_program(args.stack, overrides, previous_outputs=deployed, world=world)
        if args.live:
            _check_live(plan, world, args.live)
    except (pulumi.RunError, StackFileError, DeployedOutputsError) as error:  # one line, as the CLI prints them
        print(f"error: {error}", file=sys.stderr)
        return 1
    files = write_plan(plan, args.out)
    elapsed = time.perf_counter() - started
    summary = f"{len(plan.registrations)} resources, {len(files)} files in {args.out}"
    print(f"plan of stack {args.stack}: {summary} ({elapsed:.1f} s)")
    size, spare = user_data_headroom(plan)
    print(f"user data: up to {size} of Hetzner's {USER_DATA_LIMIT} bytes per node ({spare} to spare)")
    if args.deployed is None:
        print(SKIPPED_CHECKS)
    return 0


SKIPPED_CHECKS = (
    "not checked against a deployed stack (the K3s upgrade gate, the token source, adopted host keys, the deploy "
    "key generation, the origin-pull phase): pass --deployed with `pulumi stack output --json --show-secrets` to "
    "run them"
)


class DeployedOutputsError(Exception):
    """The --deployed file can't be read as a stack's outputs."""


def _live_addresses(directory: Path) -> tuple[tuple[str, str, str], ...]:
    """(name, IPv4, IPv6 network) of every server of `hcloud server list -o json` in `directory`."""
    path = directory / "hcloud-servers.json"
    try:
        servers = json.loads(path.read_text(encoding="utf-8"))
        return tuple((s["name"], s["public_net"]["ipv4"]["ip"], s["public_net"]["ipv6"]["ip"]) for s in servers)
    except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
        raise DeployedOutputsError(f"--live {path}: not `hcloud server list -o json` ({error!r})") from None


def _check_live(plan: Plan, world: fakes.World, directory: Path) -> None:
    """Every server of the plan has its real addresses: a node missing from the export would be rendered with
    made-up ones, and a byte-for-byte comparison with them means nothing."""
    known = {name for name, _, _ in world.addresses}
    missing = sorted(r.name for r in plan.by_type("hcloud:index/server:Server") if r.name not in known)
    if missing:
        raise DeployedOutputsError(f"--live {directory / 'hcloud-servers.json'}: no server named {', '.join(missing)}")


def _deployed_outputs(path: Path | None) -> dict[str, object]:
    if path is None:
        return {}
    try:
        outputs = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise DeployedOutputsError(f"--deployed {path}: not a JSON file of stack outputs ({error})") from None
    if not isinstance(outputs, dict):
        raise DeployedOutputsError(f"--deployed {path}: expected a JSON object of outputs")
    return outputs


if __name__ == "__main__":
    sys.exit(main())
