"""Points the CI runner's copy of Pulumi.<stack>.yaml at the read-only ESC environment.

Pulumi.prod.yaml imports honeydue/prod (read/write provider tokens), which only the `up` job's Pulumi
team may open. The pull-request preview and the drift check run as teams that may open only
honeydue/prod-readonly, so they swap the import first:

    venv/bin/python -m tools.stack_environment --stack prod --use honeydue/prod-readonly

The swap is a convenience, not the boundary: Pulumi Cloud refuses a team that lacks `open` on an
environment (https://www.pulumi.com/docs/esc/administration/access-control/), whatever the file says.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import yaml

from offline.stack_config import PROJECT_DIR

WRITE_ENVIRONMENT = "honeydue/prod"
READ_ONLY_ENVIRONMENT = "honeydue/prod-readonly"


class StackEnvironmentError(Exception):
    """The stack file does not import what it should."""


def use_environment(stack_file: Path, environment: str, *, replacing: str = WRITE_ENVIRONMENT) -> None:
    """Replaces the import of `replacing` by `environment` in `stack_file`, keeping everything else."""
    text = stack_file.read_text()
    imports = (yaml.safe_load(text) or {}).get("environment")
    if imports != [replacing]:
        raise StackEnvironmentError(f"{stack_file.name}: `environment:` is {imports!r}, expected [{replacing!r}]")
    line = f"  - {replacing}\n"
    if text.count(line) != 1:
        raise StackEnvironmentError(f"{stack_file.name}: expected the line {line.strip()!r} exactly once")
    stack_file.write_text(text.replace(line, f"  - {environment}\n"))
    if (yaml.safe_load(stack_file.read_text()) or {}).get("environment") != [environment]:
        raise StackEnvironmentError(f"{stack_file.name}: the swap to {environment} did not take")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.stack_environment", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--use", default=READ_ONLY_ENVIRONMENT)
    args = parser.parse_args(argv)
    try:
        use_environment(PROJECT_DIR / f"Pulumi.{args.stack}.yaml", args.use)
    except StackEnvironmentError as error:
        print(f"::error title=stack environment::{error}")
        return 1
    print(f"Pulumi.{args.stack}.yaml now imports {args.use}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
