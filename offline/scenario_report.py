"""`make scenario NAME=…`: one day-2 scenario as the real engine would run it, step by step.

Without a name it lists the scenarios. The text holds property paths, never values: nothing secret shows.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pulumi
import yaml

from components.config.reader import ConfigError
from offline.engine_diff import command_effect
from offline.engine_model import Change
from offline.scenarios import SCENARIOS, Outcome, evaluate
from offline.stack_config import StackFileError, declared_config

ACTIONS = ("same", "create", "import", "update", "replace", "delete")
MAX_PROPERTIES = 8


def _short(type_: str) -> str:
    return type_.split(":")[-1] if not type_.startswith("pulumi:providers:") else f"provider {type_.split(':')[-1]}"


def _config(overrides: Mapping[str, Any]) -> str:
    """Config overrides as `key=value`, secret keys (Pulumi.yaml `secret: true`) masked."""
    secret = {k for k, spec in declared_config().items() if spec.get("secret")}
    return ", ".join(f"{k}={'[secret]' if k in secret else v}" for k, v in sorted(overrides.items()))


def _detail(change: Change, outcome: Outcome) -> list[str]:
    lines = [f"      why: {reason}" for reason in change.reasons]
    if change.properties:
        shown = ", ".join(change.properties[:MAX_PROPERTIES])
        more = len(change.properties) - MAX_PROPERTIES
        lines.append(f"      properties: {shown}" + (f" … and {more} more" if more > 0 else ""))
    lines += [f"      {'STOPS THE NODE' if change.stops_service else 'side effect'}: {e}" for e in change.effects]
    olds = {r.urn: r for r in outcome.state}
    news = {r.urn: r for r in outcome.program.registrations}
    effect = command_effect(change, olds.get(change.urn), news.get(change.urn))
    if effect:
        lines.append(f"      on the host: {effect}")
    if change.blocked:
        lines.append(f"      BLOCKED: {change.blocked}")
    return lines


def render(outcome: Outcome) -> str:
    """The scenario's report: summary, then every step in order with why and which properties."""
    item, diff = outcome.scenario, outcome.diff
    counts = Counter(c.action for c in diff.changes)
    lines = [
        f"scenario {item.name}: {item.summary}",
        f"  state: {_config(item.before) or 'Pulumi.prod.yaml'}; program: {_config(item.after) or 'unchanged config'}",
    ]
    if item.replace:
        lines.append(f"  pulumi up --replace {' '.join(item.replace)}")
    if item.preview:
        lines.append("  as a preview sees it: outputs of replaced resources are unknown")
    lines.append("  " + ", ".join(f"{counts.get(a, 0)} {a}" for a in ACTIONS) + f"; {len(diff.blocked())} blocked")
    by_urn = {c.urn: c for c in diff.changes}
    if diff.steps:
        lines.append("steps, in an order the engine may run them:")
    explained: set[str] = set()
    for number, step in enumerate(diff.steps, 1):
        change = by_urn[step.urn]
        dbr = " [delete-before-replace]" if change.delete_before_replace and step.op.endswith("replaced") else ""
        lines.append(f"  {number:3}. {step.op:<19} {_short(change.type)} {change.name}{dbr}")
        if step.urn not in explained:  # the first step of a resource says why
            explained.add(step.urn)
            lines += _detail(change, outcome)
    if not diff.steps:
        lines.append("no steps: every resource is the same")
    lines += [f"FAILS: {failure}" for failure in outcome.failures]
    return "\n".join(lines) + "\n"


def _setting(text: str) -> tuple[str, Any]:
    """KEY=VALUE as `make plan --set` reads it: a list in YAML, anything else verbatim."""
    key, _, value = text.partition("=")
    return key.removeprefix("honeydue:"), yaml.safe_load(value) if value.startswith("[") else value


class _Once(logging.Filter):
    """Passes each distinct log message once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if message in self.seen:
            return False
        self.seen.add(message)
        return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make scenario", description=__doc__)
    parser.add_argument("name", nargs="?", help="a scenario; none lists them")
    parser.add_argument("--stack", default="prod")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="a config change on top of the scenario's"
    )
    args = parser.parse_args(argv)
    logging.getLogger().addFilter(_Once())  # states A and B both warn: say each warning once
    if not args.name:
        width = max(map(len, SCENARIOS))
        for name in sorted(SCENARIOS):
            print(f"{name:<{width}}  {SCENARIOS[name]().summary}")
        return 0
    if args.name not in SCENARIOS:
        print(f"no scenario {args.name!r}; `make scenario` lists them", file=sys.stderr)
        return 2
    try:
        item = SCENARIOS[args.name]()
        if args.set:
            changes = dict(_setting(s) for s in args.set)
            item = dataclasses.replace(
                item, after={**item.after, **changes}, summary=f"{item.summary}; {_config(changes)}"
            )
        sys.stdout.write(render(evaluate(item, args.stack)))
    except (StackFileError, ConfigError, pulumi.RunError) as error:  # the config's problems, as `make plan` says them
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
