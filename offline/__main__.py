"""`make plan`: evaluate the program offline and write the plan of a stack to build/plan/."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import pulumi
import yaml

from components.hetzner.cloud_init import USER_DATA_LIMIT
from offline.harness import run_program
from offline.plan import user_data_headroom, write_plan
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
    args = parser.parse_args(argv)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        # Lists as YAML; everything else verbatim, as `pulumi config set` would store it.
        overrides[key.removeprefix("honeydue:")] = yaml.safe_load(value) if value.startswith("[") else value
    started = time.perf_counter()
    try:
        plan = run_program(args.stack, overrides)
    except (pulumi.RunError, StackFileError) as error:  # the CLI prints these without a traceback; so do we
        print(f"error: {error}", file=sys.stderr)
        return 1
    files = write_plan(plan, args.out)
    elapsed = time.perf_counter() - started
    summary = f"{len(plan.registrations)} resources, {len(files)} files in {args.out}"
    print(f"plan of stack {args.stack}: {summary} ({elapsed:.1f} s)")
    size, spare = user_data_headroom(plan)
    print(f"user data: up to {size} of Hetzner's {USER_DATA_LIMIT} bytes per node ({spare} to spare)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
