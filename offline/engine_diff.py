"""What the real Pulumi engine would do going from the state (one evaluation of the program) to the next.

Pure functions over Registrations; the rules are listed in offline.engine_model, each with the engine code
it is read from. `diff_plans(old, new)` decides per resource, then orders the steps.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from offline import replace_rules
from offline.engine_model import (
    ENGINE,
    Change,
    EngineDiff,
    Step,
    changed_paths,
    dependency_graph,
    dependents_of,
    path_under,
    paths_overlap,
    provider_urn,
    topological,
)
from offline.records import Registration
from offline.side_effects import imported_inputs, update_effects, update_refusal

SG = ENGINE + "step_generator.go"


@dataclass(frozen=True)
class Context:
    olds: Mapping[str, Registration]
    news: Mapping[str, Registration]
    decided: Mapping[str, Change]
    targets: Collection[str]
    live: Mapping[str, Mapping[str, Any]]
    """URN -> the inputs a resource to import holds live where they differ from the program's."""


def _bare(path: str) -> str:
    return path.removesuffix(" (unknown)")


def _own_properties(old_inputs: Mapping[str, Any], new: Registration) -> tuple[str, ...]:
    """Changed input paths, minus those under the new registration's ignoreChanges (they keep the old value)."""
    paths = changed_paths(old_inputs, new.inputs)
    return tuple(p for p in paths if not any(path_under(i, _bare(p)) for i in new.ignore_changes))


def _provider_reasons(old: Registration, new: Registration, ctx: Context) -> list[str]:
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


def _property_reasons(new: Registration, properties: tuple[str, ...], ctx: Context) -> list[str]:
    provider = ctx.news.get(provider_urn(new))
    forcing = replace_rules.forcing_paths(new, provider.inputs if provider else {})
    reasons = []
    for prop in properties:
        path = _bare(prop)
        sources = sorted({src for p, src in forcing if paths_overlap(p, path)})
        reasons += [f"{prop} forces replacement ({src})" for src in sources]
        patterns = [p for p in new.replace_on_changes if path_under(p, path)]
        reasons += [f"{prop} matches replaceOnChanges {p} ({SG} applyReplaceOnChanges)" for p in patterns]
    return reasons


def _replace_blocker(old: Registration, new: Registration, delete_first: bool) -> str:
    if old.protect and new.protect:
        return f"protected in state and program: the engine refuses to replace it ({SG}#L1957-L1972)"
    if new.import_id:
        return f"still carries import {new.import_id}: a replacement is refused ({SG}#L1974-L1998)"
    return ("" if delete_first else replace_rules.create_first_blocker(old, new)) or replace_rules.delete_blocker(old)


def _delete_blocker(old: Registration) -> str:
    if old.protect:
        return f"protected: the engine refuses to delete it when the step runs ({ENGINE}step.go#L644-L649)"
    return replace_rules.delete_blocker(old)


def _updated(new: Registration, properties: tuple[str, ...], action: str, reasons: tuple[str, ...] = ()) -> Change:
    effects = update_effects(new.type, properties)
    return Change(
        new.urn,
        new.type,
        new.name,
        action,
        properties=properties,
        reasons=reasons,
        effects=tuple(f"{e.path}: {e.effect} ({e.source})" for e in effects),
        stops_service=any(e.stops_service for e in effects),
    )


def _imported(new: Registration, ctx: Context) -> Change:
    """An import reads the live resource, then the program's inputs are diffed against what the Read wrote, in
    the same deployment: a difference is applied as an update right after ({SG}#L1128-L1201)."""
    read = imported_inputs(new.type, new.inputs, ctx.live.get(new.urn, {}))
    properties = _own_properties(read, new)
    if not properties:
        return Change(new.urn, new.type, new.name, "import")
    own = _property_reasons(new, properties, ctx) if new.custom else []
    reasons = (
        f"imported, then updated where the program differs from what the provider's Read wrote ({SG}#L1128-L1201)",
    )
    change = _updated(new, properties, "import", (*reasons, *own))
    if own:
        return dataclasses.replace(
            change, blocked=f"the diff after the import asks to replace it: refused ({SG}#L1974-L1998)"
        )
    refused = update_refusal(new.type, properties)
    return dataclasses.replace(change, blocked=f"the update after the import fails: {refused}") if refused else change


def decide(old: Registration | None, new: Registration, ctx: Context) -> Change:
    """The engine's decision for `new` given its state `old` (None: not in the state)."""
    if old is None:
        return _imported(new, ctx) if new.import_id else Change(new.urn, new.type, new.name, "create")
    properties = _own_properties(old.inputs, new)
    reasons = [f"pulumi up --replace names it ({SG} isTargetedReplace)"] if new.urn in ctx.targets else []
    own: list[str] = []
    if new.custom:
        reasons += _provider_reasons(old, new, ctx)
        own = [] if reasons or new.type.startswith("pulumi:providers:") else _property_reasons(new, properties, ctx)
    if reasons or own:
        # Only the provider's own Diff may ask to delete first, and only for what its own rules replace: not
        # a --replace, a replaced provider or a replaceOnChanges path (pulumi-kubernetes provider.go
        # L1647-L1658; step_generator.go L2043, L3258). The program's option overrides it. An unset option
        # is recorded as False: the program never sets it to False explicitly.
        forced_by_provider = any(" forces replacement (" in reason for reason in own)
        delete_first = replace_rules.provider_deletes_first(old, new) if forced_by_provider else ""
        return Change(
            new.urn,
            new.type,
            new.name,
            "replace",
            properties=properties,
            reasons=(*reasons, *own, *([delete_first] if delete_first else [])),
            delete_before_replace=new.delete_before_replace or bool(delete_first),
            targeted=new.urn in ctx.targets,
            blocked=_replace_blocker(old, new, new.delete_before_replace or bool(delete_first)),
        )
    if not properties:
        return Change(new.urn, new.type, new.name, "same")
    rejected = replace_rules.api_rejects(new.type, properties) or update_refusal(new.type, properties)
    return (
        dataclasses.replace(_updated(new, properties, "update"), blocked=rejected)
        if rejected
        else _updated(new, properties, "update")
    )


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
    old: Sequence[Registration],
    new: Sequence[Registration],
    *,
    replace: Collection[str] = (),
    live: Mapping[str, Mapping[str, Any]] | None = None,
    failing: Mapping[str, str] | None = None,
) -> EngineDiff:
    """Per resource what the engine does from state `old` to program `new`, and the steps in order.

    `replace` are URNs given to `pulumi up --replace`; `live` what resources to import hold where it differs
    from the program (offline.adoption_world); `failing` URNs of the state whose provider Delete fails, and
    why (a delete script that refuses)."""
    olds, news = {r.urn: r for r in old}, {r.urn: r for r in new}
    old_graph, new_graph = dependency_graph(old), dependency_graph(new)
    decided: dict[str, Change] = {}
    ctx = Context(olds, news, decided, frozenset(replace), live or {})
    for urn in topological(new_graph):
        decided[urn] = decide(olds.get(urn), news[urn], ctx)
    old_order = topological(old_graph)
    for urn in reversed(old_order):
        if urn not in news:
            decided[urn] = _deleted(olds[urn])
    victims = {urn: _dbr_victims(urn, decided, olds) for urn, c in decided.items() if c.delete_before_replace}
    decided = _failed_deletes(decided, failing or {}, old_graph, victims)
    decided = _block_dbr_chains(decided, victims, olds)
    decided = _halted(decided, new_graph)
    return EngineDiff(
        changes=tuple(decided.values()),
        steps=tuple(order_steps(decided, old_graph, new_graph, victims)),
        old_graph={u: frozenset(d) for u, d in old_graph.items()},
        new_graph={u: frozenset(d) for u, d in new_graph.items()},
    )


def _dbr_victims(urn: str, changes: Mapping[str, Change], olds: Mapping[str, Registration]) -> list[str]:
    """Dependents deleted before `urn` when it is replaced delete-first, deepest first.

    As calculateDependentReplacements ({SG}#L3268-L3415) picks them: custom resources of the state with a
    property dependency on `urn` or on a dependent already picked, whose own Diff (those inputs unknown)
    says replace, here the decision for the program's inputs; a dependsOn or parent edge alone never picks
    one. Then "deletions in reverse dependency order"."""
    if urn not in olds:
        return []
    picked: set[str] = set()
    frontier = {urn}
    while frontier:
        found = {
            u
            for u, reg in olds.items()
            if u not in picked
            and u != urn
            and reg.custom
            and changes.get(u, Change(u, "", "", "same")).action == "replace"
            and any(frontier & set(deps) for deps in reg.property_dependencies.values())
        }
        picked |= found
        frontier = found
    graph = dependency_graph(olds.values())
    return [u for u in reversed(topological(graph)) if u in picked]


REFUSED_AT_GENERATION = ("protected in state and program", "still carries import")
"""Reasons the step generator refuses a replacement before any of its steps (delete-first ones included) run."""


def _failed_deletes(
    changes: dict[str, Change],
    failing: Mapping[str, str],
    old_graph: Mapping[str, set[str]],
    victims: Mapping[str, list[str]],
) -> dict[str, Change]:
    """Which deletes fail, and what never runs after them.

    A replacement refused at step generation runs none of its delete-first steps. A delete in `failing`
    (a script that exits 1) fails, and any failed step but a protected delete cancels the deployment
    (step_executor.go L459-L460): of the deletes at the end, only those deleted before it (its dependents,
    rounds in reverse dependency order, up to its own round) have run; every later one is cancelled."""
    result = dict(changes)
    for root, picked in victims.items():
        if result[root].blocked.startswith(REFUSED_AT_GENERATION):
            for urn in picked:
                reason = (
                    f"never runs: the replacement of {result[root].name} is refused before any step ({SG}#L1957-L1972)"
                )
                result[urn] = dataclasses.replace(result[urn], blocked=reason)
    inline = {u for picked in victims.values() for u in picked} | {u for u in victims if result[u].action == "replace"}
    executed = [
        urn for urn, change in result.items()
        if urn in failing and change.action in ("delete", "replace") and not change.blocked
    ]  # fmt: skip
    if not executed:
        return result
    # Deletes at the end (those of removed resources and the old halves of create-first replacements, L2164)
    # run in rounds (ScheduleDeletes, L2747-L2796): level 0 are those waiting for no condemned resource, each
    # next level those whose condemned dependencies are all in lower levels; the list is then reversed, so
    # the highest level runs first. Delete-first steps of a replacement run earlier, inline: round -1.
    deleting = {urn for urn, change in result.items() if change.action in ("delete", "replace") and urn not in inline}
    level: dict[str, int] = {}
    for urn in topological(old_graph):
        level[urn] = 1 + max((level[d] for d in old_graph.get(urn, ()) if d in deleting), default=-1)
    top = max((level[u] for u in deleting), default=0)
    rounds = {urn: top - level[urn] for urn in deleting}
    round_of = {urn: rounds.get(urn, -1) for urn in executed}
    first_round = min(round_of.values())
    failed = [urn for urn in executed if round_of[urn] == first_round]
    for urn in failed:
        result[urn] = dataclasses.replace(result[urn], blocked=f"its delete fails: {failing[urn]}")
    first = result[failed[0]].name
    cancelled = (
        f"never runs: the delete of {first} failed and cancelled the update ({ENGINE}step_executor.go#L459-L460)"
    )
    # Steps of the failed round already started finish; whether all of its steps started is a race (the
    # CLI runs 4 x GOMAXPROCS at once by default): the model counts them as run.
    for urn in deleting:
        # A refusal met only when its own step runs (protect, Hetzner's lock) is never met: the step never runs.
        at_execution = result[urn].blocked.startswith(("protected: ", "Hetzner delete protection"))
        if (not result[urn].blocked or at_execution) and rounds[urn] > first_round:
            result[urn] = dataclasses.replace(result[urn], blocked=cancelled)
    return result


def _halted(changes: dict[str, Change], new_graph: Mapping[str, set[str]]) -> dict[str, Change]:
    """`pulumi up` stops at a refused replacement (step generation, L1957-L1998, L2110-L2122) or a failed
    delete-first step (deployment_executor.go L651): no step that waits for it runs. Steps that don't wait for
    it may have run before; `pulumi preview` goes on and shows them all."""
    result = dict(changes)
    halting = [
        urn for urn, c in changes.items()
        if c.action == "replace" and c.blocked.startswith((*REFUSED_AT_GENERATION, "delete-before-replace must"))
    ]  # fmt: skip
    for root in halting:
        for urn in dependents_of(new_graph, root):
            change = result[urn]
            if change.action != "same" and not change.blocked:
                reason = f"never runs: the update stops at {changes[root].name}"
                result[urn] = dataclasses.replace(change, blocked=reason)
    return result


def _block_dbr_chains(
    changes: dict[str, Change], victims: Mapping[str, list[str]], olds: Mapping[str, Registration]
) -> dict[str, Change]:
    """A blocked dependent, or one protected in the state alone, stops a delete-before-replace chain
    ({SG} L2110-L2122: the state's protect flag is what the engine checks there)."""
    result = dict(changes)
    for urn, change in changes.items():
        if change.action != "replace" or not change.delete_before_replace or change.blocked:
            continue
        stuck = [changes[u].name for u in victims.get(urn, []) if changes[u].blocked or olds[u].protect]
        if stuck:
            reason = f"delete-before-replace must first delete the replaced dependents {stuck}, which are blocked"
            result[urn] = dataclasses.replace(change, blocked=reason)
    return result


def order_steps(
    changes: Mapping[str, Change],
    old_graph: Mapping[str, set[str]],
    new_graph: Mapping[str, set[str]],
    victims: Mapping[str, list[str]],
) -> list[Step]:
    """The steps in an order the engine may run them: the program's resources in dependency order (a
    delete-before-replace deletes first, dependents first), then every delete in reverse dependency order."""
    steps: list[Step] = []
    deleted: set[str] = set()
    for urn in topological(new_graph):
        change = changes[urn]
        if change.action in ("create", "import", "update"):
            steps.append(Step(change.action, urn))
            if change.action == "import" and change.properties:
                steps.append(Step("update", urn))  # the diff after the import
        elif change.action == "replace":
            if change.delete_before_replace:
                for victim in [*victims.get(urn, []), urn]:
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
    """What a pulumi-command step runs on the host for `change` (remote/commandController.go: Create runs
    `create`, Update runs `update`, else `create` again, Delete runs `delete`; an absent text runs nothing).
    Ignored inputs keep their old value on an update ({SG}#L1264-L1268); a replacement, targeted or not, is
    created from the program's own inputs ({SG}#L1321-L1333, L2003-L2022). A state with retainOnDelete
    never reaches the provider's Delete (step.go L661)."""
    if change.type != "command:remote:Command":
        return ""
    runs_delete = old is not None and "delete" in old.inputs and not old.retain_on_delete
    if change.action == "delete" and old is not None:
        if old.retain_on_delete:
            return "nothing runs (retainOnDelete)"
        return "runs its delete script" if runs_delete else "nothing runs"
    if new is None or change.action == "same":
        return ""
    if change.action == "update":
        if "update" in new.inputs:
            return "runs update"
        if "create" not in new.inputs:
            return "nothing runs (no create, no update)"
        stale = "create" in new.ignore_changes and bool(
            changed_paths(old.inputs.get("create") if old else None, new.inputs.get("create"))
        )
        return "runs its OLD create text again (create is under ignoreChanges)" if stale else "runs create again"
    first = "runs create" if "create" in new.inputs else "nothing runs on create"
    if change.action == "replace":
        tail = (
            ", and the old one's delete script (first, when it is deleted before its replacement)"
            if runs_delete
            else ""
        )
        return first + tail
    return first
