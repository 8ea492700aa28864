"""The first thing a reviewer reads in a plan diff: what the engine would do, decided by the engine model.

The two dumped plans (offline/plan_dump.py records, secrets as digests) become registrations again, and
`offline.engine_diff.diff_plans` decides each resource as the real engine would from state = base to program =
head: counts per action, every replacement and deletion with its reason from the replace rules, and every step
with a side effect on a running system (an update that powers a server off, a remote command that runs on a
node). The property lines of the review below are the detail; this is the verdict.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Mapping
from typing import Any

from offline.engine_diff import command_effect, diff_plans
from offline.engine_model import Change
from offline.records import Registration

_FIELDS = {f.name for f in dataclasses.fields(Registration)}
_TUPLES = ("dependencies", "ignore_changes", "replace_on_changes", "additional_secret_outputs", "aliases")
MAX_LISTED = 40


def registration_of(record: Mapping[str, Any]) -> Registration:
    """A dumped record as a registration (fields an older harness did not record take their defaults)."""
    values: dict[str, Any] = {k: v for k, v in record.items() if k in _FIELDS}
    for name in _TUPLES:
        if name in values:
            values[name] = tuple(values[name] or ())
    if "property_dependencies" in values:
        values["property_dependencies"] = {k: tuple(v) for k, v in (values["property_dependencies"] or {}).items()}
    defaults = {"id": "", "parent": "", "custom": True, "inputs": {}, "dependencies": (), "provider": "",
                "protect": False, "ignore_changes": (), "replace_on_changes": (), "additional_secret_outputs": (),
                "delete_before_replace": False, "import_id": "", "custom_timeouts": {}}  # fmt: skip
    return Registration(**{**defaults, **values})


def _why(change: Change) -> str:
    reasons = "; ".join(change.reasons) or ", ".join(change.properties) or "not in the program any more"
    return reasons + (" (protected: the update stops here)" if change.blocked else "")


def engine_summary(before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Markdown lines: the engine's decisions from `before` (the state) to `after` (the program)."""
    olds = {urn: registration_of(r) for urn, r in before.items()}
    news = {urn: registration_of(r) for urn, r in after.items()}
    diff = diff_plans(list(olds.values()), list(news.values()))
    counts = Counter(c.action for c in diff.changes)
    order = ("create", "import", "update", "replace", "delete", "same")
    lines = ["**What the engine would do** (offline/engine_diff.py): " + ", ".join(
        f"{counts[a]} {a}" for a in order if counts[a]
    ) + "."]  # fmt: skip
    gone = [c for c in diff.changes if c.action in ("replace", "delete")]
    if gone:
        lines += ["", "Replaced or deleted, and why:"]
        lines += [f"- **{c.action}** `{c.type}` {c.name}: {_why(c)}" for c in gone[:MAX_LISTED]]
        lines += [f"- … and {len(gone) - MAX_LISTED} more"] if len(gone) > MAX_LISTED else []
    effects = []
    for change in diff.changes:
        effects += [
            f"- {'⚠ STOPS' if change.stops_service else 'side effect'}: {change.name}: {e}" for e in change.effects
        ]
        ran = command_effect(change, olds.get(change.urn), news.get(change.urn))
        if ran and not ran.startswith("nothing runs"):
            effects.append(f"- on a node: {change.name} {ran}")
    if effects:
        lines += ["", "Side effects on running systems:", *effects[:MAX_LISTED]]
        lines += [f"- … and {len(effects) - MAX_LISTED} more"] if len(effects) > MAX_LISTED else []
    return [*lines, ""]
