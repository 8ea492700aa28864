"""What the real Pulumi engine would do going from the state (one evaluation of the program) to the next.

Pure functions over Registrations; the rules are listed in offline.engine_model, each with the engine code
it is read from. `diff_plans(old, new)` decides per resource, then orders the steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from offline import replace_rules
from offline.engine_model import (
    ENGINE,
    Change,
    EngineDiff,
    Step,
    changed_paths,
    dependency_graph,
    dependents_of,
    path_matches,
    provider_urn,
    topological,
)
from offline.records import Registration

SG = ENGINE + "step_generator.go"


@dataclass(frozen=True)
class _Context:
    olds: Mapping[str, Registration]
    news: Mapping[str, Registration]
    decided: Mapping[str, Change]
    targets: Collection[str]


def _bare(path: str) -> str:
    return path.removesuffix(" (unknown)")


def _own_properties(old: Registration, new: Registration) -> tuple[str, ...]:
    """Changed input paths, minus those under the new registration's ignoreChanges (they keep the old value)."""
    paths = changed_paths(old.inputs, new.inputs)
    return tuple(p for p in paths if not any(path_matches(i, _bare(p)) for i in new.ignore_changes))


def _provider_reasons(old: Registration, new: Registration, ctx: _Context) -> list[str]:
    if new.type.startswith("pulumi:providers:"):
        why = replace_rules.provider_replacement(new.type, old.inputs, new.inputs)
        return [f"{why} ({replace_rules.PROVIDER_RULES[new.type].source})"] if why else []
    urn = provider_urn(new)
    if not urn:
        return []
    if urn in ctx.decided and ctx.decided[urn].action == "replace":
        return [f"its provider {ctx.decided[urn].name} is replaced ({SG} providerChanged)"]
    old_urn = provider_urn(old)
    if old_urn != urn and old_urn in ctx.olds and urn in ctx.news:
        before, after = ctx.olds[old_urn], ctx.news[urn]
        why = (
            replace_rules.provider_replacement(after.type, before.inputs, after.inputs)
            if before.type == after.type
            else "another package"
        )
        return [f"moved to provider {ctx.news[urn].name}, which DiffConfig says is another: {why}"] if why else []
    return []


def _property_reasons(new: Registration, properties: tuple[str, ...], ctx: _Context) -> list[str]:
    provider = ctx.news.get(provider_urn(new))
    forcing = replace_rules.forcing_paths(new, provider.inputs if provider else {})
    reasons = []
    for prop in properties:
        path = _bare(prop)
        sources = sorted({src for p, src in forcing if path_matches(p, path)})
        reasons += [f"{prop} forces replacement ({src})" for src in sources]
        patterns = [p for p in new.replace_on_changes if path_matches(p, path)]
        reasons += [f"{prop} matches replaceOnChanges {p} ({SG} applyReplaceOnChanges)" for p in patterns]
    return reasons


def _replace_blocker(old: Registration, new: Registration) -> str:
    if old.protect and new.protect:
        return f"protected in state and program: the engine refuses to replace it ({SG}#L1954-L1972)"
    if new.import_id:
        return f"still carries import {new.import_id}: a replacement is refused ({SG}#L1974-L1997)"
    return replace_rules.delete_blocker(old)


def _delete_blocker(old: Registration) -> str:
    if old.protect:
        return f"protected: the engine refuses to delete it ({ENGINE}step.go deleteProtectedError)"
    return replace_rules.delete_blocker(old)


def decide(old: Registration | None, new: Registration, ctx: _Context) -> Change:
    """The engine's decision for `new` given its state `old` (None: not in the state)."""
    if old is None:
        return Change(new.urn, new.type, new.name, "import" if new.import_id else "create")
    properties = _own_properties(old, new)
    reasons = [f"pulumi up --replace names it ({SG} isTargetedReplace)"] if new.urn in ctx.targets else []
    own: list[str] = []
    if new.custom:
        reasons += _provider_reasons(old, new, ctx)
        own = [] if reasons or new.type.startswith("pulumi:providers:") else _property_reasons(new, properties, ctx)
    if reasons or own:
        # Only the provider's own Diff may ask to delete first (not a --replace or a replaced provider);
        # the program's option overrides it (step_generator.go L2043-L2046). An unset option is recorded as
        # False: the program never sets it to False explicitly.
        delete_first = replace_rules.provider_deletes_first(old, new) if own else ""
        return Change(
            new.urn,
            new.type,
            new.name,
            "replace",
            properties=properties,
            reasons=(*reasons, *own, *([delete_first] if delete_first else [])),
            delete_before_replace=new.delete_before_replace or bool(delete_first),
            targeted=new.urn in ctx.targets,
            blocked=_replace_blocker(old, new),
        )
    return Change(new.urn, new.type, new.name, "update" if properties else "same", properties=properties)


def _deleted(old: Registration) -> Change:
    return Change(
        urn=old.urn,
        type=old.type,
        name=old.name,
        action="delete",
        reasons=("no longer registered by the program",),
        blocked=_delete_blocker(old),
    )


def diff_plans(
    old: Sequence[Registration], new: Sequence[Registration], *, replace: Collection[str] = ()
) -> EngineDiff:
    """Per resource what the engine does from state `old` to program `new`, and the steps in order.

    `replace` are URNs given to `pulumi up --replace`."""
    olds, news = {r.urn: r for r in old}, {r.urn: r for r in new}
    old_graph, new_graph = dependency_graph(old), dependency_graph(new)
    decided: dict[str, Change] = {}
    ctx = _Context(olds, news, decided, frozenset(replace))
    for urn in topological(new_graph):
        decided[urn] = decide(olds.get(urn), news[urn], ctx)
    old_order = topological(old_graph)
    for urn in reversed(old_order):
        if urn not in news:
            decided[urn] = _deleted(olds[urn])
    decided = _block_dbr_chains(decided, old_graph)
    return EngineDiff(
        changes=tuple(decided.values()),
        steps=tuple(order_steps(decided, old_graph, new_graph)),
        old_graph={u: frozenset(d) for u, d in old_graph.items()},
        new_graph={u: frozenset(d) for u, d in new_graph.items()},
    )


def _dbr_victims(urn: str, changes: Mapping[str, Change], old_graph: Mapping[str, set[str]]) -> list[str]:
    """Dependents deleted before `urn` when it is replaced delete-first: those replaced themselves, deepest
    first (the engine's calculateDependentReplacements, then "deletions in reverse dependency order")."""
    if urn not in old_graph:
        return []
    victims = dependents_of(old_graph, urn)
    return [u for u in reversed(topological(old_graph)) if u in victims and changes[u].action == "replace"]


def _block_dbr_chains(changes: dict[str, Change], old_graph: Mapping[str, set[str]]) -> dict[str, Change]:
    """A protected dependent stops a delete-before-replace chain ({SG} L2110-L2122)."""
    result = dict(changes)
    for urn, change in changes.items():
        if change.action != "replace" or not change.delete_before_replace or change.blocked:
            continue
        stuck = [changes[u].name for u in _dbr_victims(urn, changes, old_graph) if changes[u].blocked]
        if stuck:
            reason = f"delete-before-replace must first delete the replaced dependents {stuck}, which are blocked"
            result[urn] = dataclasses.replace(change, blocked=reason)
    return result


def order_steps(
    changes: Mapping[str, Change], old_graph: Mapping[str, set[str]], new_graph: Mapping[str, set[str]]
) -> list[Step]:
    """The steps in an order the engine may run them: the program's resources in dependency order (a
    delete-before-replace deletes first, dependents first), then every delete in reverse dependency order."""
    steps: list[Step] = []
    deleted: set[str] = set()
    for urn in topological(new_graph):
        change = changes[urn]
        if change.action in ("create", "import", "update"):
            steps.append(Step(change.action, urn))
        elif change.action == "replace":
            if change.delete_before_replace:
                for victim in [*_dbr_victims(urn, changes, old_graph), urn]:
                    if victim not in deleted:
                        steps.append(Step("delete-replaced", victim))
                        deleted.add(victim)
            steps.append(Step("create-replacement", urn))
    for urn in reversed(topological(old_graph)):
        action = changes[urn].action
        if urn not in deleted and action in ("replace", "delete"):
            steps.append(Step("delete-replaced" if action == "replace" else "delete", urn))
    return steps


def command_effect(change: Change, old: Registration | None, new: Registration | None) -> str:
    """What a pulumi-command step runs on the host for `change` (remote/commandController.go: Update runs
    `update`, else `create` again; Delete runs `delete`). Ignored inputs keep their old value on an update
    ({SG}#L1264-L1268) and on a `--replace` target; any other replacement re-checks the program's own
    inputs ({SG}#L2002-L2022)."""
    if change.type != "command:remote:Command":
        return ""
    if change.action == "delete" and old is not None:
        return "runs its delete script" if "delete" in old.inputs else "nothing runs"
    if new is None or change.action == "same":
        return ""
    stale = (
        old is not None
        and "create" in new.ignore_changes
        and (change.action == "update" or change.targeted)
        and bool(changed_paths(old.inputs.get("create"), new.inputs.get("create")))
    )
    text = "its OLD create text (create is under ignoreChanges)" if stale else "create"
    if change.action == "update":
        return "runs update" if "update" in new.inputs else f"runs {text} again"
    if change.action == "replace":
        tail = ", then the old one's delete script" if old is not None and "delete" in old.inputs else ""
        return f"runs {text}{tail}"
    return "runs create"
