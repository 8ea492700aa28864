"""Prints the modelled critical path of a stack to serving traffic, and the estimates it is made of.

    venv/bin/python -m benchmarks.critical_path [--stack prod] [--set sslMode=strict] [--estimates]

The model and the estimates are offline/critical_path.py's and offline/estimates.py's;
tests/test_critical_path.py holds prod to 4 minutes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.critical_path", description=__doc__.split("\n")[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="a config change")
    parser.add_argument("--estimates", action="store_true", help="also print the table of estimates")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(PROJECT_DIR))
    import yaml

    from offline.critical_path import critical_path, estimates_table, minutes, path_table
    from offline.harness import run_program

    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key.removeprefix("honeydue:")] = yaml.safe_load(value) if value.startswith("[") else value
    plan = run_program(args.stack, overrides)
    cp = critical_path(plan)
    by_urn = plan.by_urn()
    schedule = cp.schedule
    changed = f" with {overrides}" if overrides else ""
    print(f"Critical path of {args.stack}{changed} from nothing to serving traffic (modelled)\n")
    print(path_table(cp))
    waited = sorted({by_urn[u].type.split(":")[-1] for u in cp.sink})
    print(f"\nServing traffic = every one of {len(cp.sink)} resources done: {', '.join(waited)} "
          "(proxied DNS records and the ssl setting only; see offline/critical_path.py).")  # fmt: skip
    commands = [r for r in plan.by_type("command:remote:Command") if r.urn not in schedule.needed]
    if commands:
        last = max(commands, key=lambda r: schedule.finish[r.urn])
        print(f"Not waited for: {len(commands)} remote steps (joins, converge, firewall sync), the last "
              f"({last.name}) done at {minutes(schedule.finish[last.urn])}.")  # fmt: skip
    print(f"Everything created at {minutes(max(schedule.finish.values()))}.")
    if args.estimates:
        print("\nEstimates (first matching row wins):\n")
        print(estimates_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
