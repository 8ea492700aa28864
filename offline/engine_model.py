"""The data and the graph of the engine-diff model (offline.engine_diff), and the rules it follows.

The rules, each from the engine's step generator
(ENGINE = pkg/resource/deploy/step_generator.go at the commit in the URL):
* a resource's own input diff decides (a dependent is not replaced because its dependency was); paths
  under `ignoreChanges` keep their old value (engine `processIgnoreChanges`, L1264-L1269);
* an unchanged resource takes a same step: the program gets the state's id and outputs back and the provider
  is not called (SAME_KEEPS_OUTPUTS; offline.harness answers so);
* an import reads the live resource (the provider's Read), then the program's inputs are diffed against what
  it read in the same deployment: an update follows when they differ, a replacement is refused while the
  import id is set (L1128-L1201, L1974-L1998; since pulumi 3.174, pulumi/pulumi#19339);
* a replacement, targeted or not, is created from the program's current inputs: ignoreChanges only decides
  whether to replace (L1321-L1333, L2003-L2022);
* a change on a replace-forcing property (offline.replace_rules), on `replaceOnChanges`
  (`applyReplaceOnChanges`), a `--replace` target (`isTargetedReplace`) or a replaced provider
  (`providerChanged`: the reference's ID changes and the new provider's DiffConfig asks for it) replaces;
* a replacement is create-before-delete, the old one deleted with the other deletes at the end, unless
  `deleteBeforeReplace`: then the old one and every dependent that is replaced too are deleted first,
  dependents first (`calculateDependentReplacements`, L2043-L2130);
* delete-first dependents are custom resources with a property dependency on the replaced one (or on
  another delete-first dependent) whose own Diff, with those inputs unknown, says replace; dependsOn and
  parent edges alone never make one (calculateDependentReplacements, L3268-L3415);
* replacing is refused while the resource is protected in state and program (L1957-L1972; protected only in
  the state, the replacement goes ahead), and while it still carries `import` (L1974-L1998); deleting a
  protected resource fails when its step runs (step.go L644-L649), and the executor goes on with the other
  deletes (step_executor.go L441-L449); any other failed delete cancels the rest (L459-L460);
* a resource whose state has retainOnDelete is never deleted at the provider, also as the old half of a
  replacement (step.go L661);
* creates and updates follow dependencies; deletes run after every other step, in reverse dependency order
  (deployment_executor.go L326-L332, step_generator.go L2747-L2796).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from offline.records import Registration, SecretValue, Unknown

ENGINE = "https://github.com/pulumi/pulumi/blob/1b5949891b3cefcb9974752b24a5ecef0acc86c8/pkg/resource/deploy/"
SAME_KEEPS_OUTPUTS = ENGINE + "step.go#L177-L179"
"""A same step hands the program the state's outputs (and pkg/resource/deploy/source_eval.go L3079)."""


@dataclass(frozen=True)
class Change:
    """The engine's decision for one resource."""

    urn: str
    type: str
    name: str
    action: str
    """same | create | import | update | replace | delete"""
    properties: tuple[str, ...] = ()
    """Changed input paths (after ignoreChanges); "(unknown)" marks a value known only after apply."""
    reasons: tuple[str, ...] = ()
    delete_before_replace: bool = False
    targeted: bool = False
    """Replaced because `pulumi up --replace` names it (created from the program's inputs, like any replacement)."""
    blocked: str = ""
    """Why the engine or the provider refuses the step ("" = it goes through)."""
    effects: tuple[str, ...] = ()
    """What the in-place update (or the update after an import) does beyond the field (offline.side_effects)."""
    stops_service: bool = False
    """One of `effects` powers a server off, resets it, cuts its network or fails on a running one."""


@dataclass(frozen=True)
class Step:
    """One operation, in an order the engine may run them (it runs independent ones in parallel)."""

    op: str
    """create | import | update | create-replacement | delete-replaced | delete"""
    urn: str


@dataclass(frozen=True)
class EngineDiff:
    changes: tuple[Change, ...]
    steps: tuple[Step, ...]
    old_graph: Mapping[str, frozenset[str]]
    """The state's dependencies (URN -> what it waits for): deletes follow it backwards."""
    new_graph: Mapping[str, frozenset[str]]
    """The program's dependencies: creates, updates and replacements follow it."""

    def forced_before(self, first: str, then: str) -> bool:
        """Whether the engine must finish the step of resource `first` before that of `then`. Deletes of
        resources the program no longer registers run after all its other steps (deployment_executor.go
        performPostSteps calls GenerateDeletes), a delete after the deletes of what depends on it; anything
        else waits for what it depends on. Independent steps run in parallel."""
        a, b = self.change(first), self.change(then)
        if b.action == "delete":
            return a.action != "delete" or b.urn in reachable(self.old_graph, a.urn)
        return a.action != "delete" and a.urn in reachable(self.new_graph, b.urn)

    def change(self, name: str) -> Change:
        """The change of the one resource named `name`."""
        found = [c for c in self.changes if c.name == name]
        if len(found) != 1:
            raise KeyError(f"{len(found)} resources named {name}")
        return found[0]

    def names(self, *actions: str) -> list[str]:
        """Names of the resources whose action is one of `actions`, sorted."""
        return sorted(c.name for c in self.changes if c.action in actions)

    def blocked(self) -> list[Change]:
        return [c for c in self.changes if c.blocked]


# ------------------------------------------------------------------------------------- property diff

_TOKEN = re.compile(r"[^.\[\]]+|\[[^\]]*\]")


def _tokens(path: str) -> list[str]:
    return [t.strip('[]"') if t.startswith("[") else t for t in _TOKEN.findall(path)]


def path_under(pattern: str, path: str) -> bool:
    """Whether `path` is `pattern` or lies under it, `*` matching any one key or index: how the engine matches
    replaceOnChanges and ignoreChanges paths (sdk/go/common/resource/properties_path.go L310-L342, used by
    applyReplaceOnChanges and processIgnoreChanges). One way only: a change reported at `a` does not match
    the pattern `a.b`."""
    pat, got = _tokens(pattern), _tokens(path)
    return len(got) >= len(pat) and all(p in ("*", g) for p, g in zip(pat, got, strict=False))


def paths_overlap(a: str, b: str) -> bool:
    """Whether one path lies under the other: a provider's replace-forcing field changes when a change is
    reported at it, under it, or at an object that holds it (a whole block added or removed)."""
    return path_under(a, b) or path_under(b, a)


def _plain(value: Any) -> Any:
    return _plain(value.value) if isinstance(value, SecretValue) else value


def changed_paths(old: Any, new: Any, path: str = "") -> list[str]:
    """Leaf paths where `new` differs from `old`; a secret is compared by value, an unknown always differs."""
    old, new = _plain(old), _plain(new)
    if isinstance(new, Unknown):
        return [f"{path} (unknown)"]
    if isinstance(old, dict) and isinstance(new, dict):
        keys = sorted(old.keys() | new.keys())
        return [p for k in keys for p in changed_paths(old.get(k), new.get(k), f"{path}.{k}" if path else k)]
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [p for i, (a, b) in enumerate(zip(old, new, strict=True)) for p in changed_paths(a, b, f"{path}[{i}]")]
    if _contains_unknown(new):
        return [f"{path} (unknown)"]
    return [] if old == new else [path]


def _contains_unknown(value: Any) -> bool:
    value = _plain(value)
    if isinstance(value, dict):
        return any(_contains_unknown(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_unknown(v) for v in value)
    return isinstance(value, Unknown)


# ---------------------------------------------------------------------------------------- graph


def provider_urn(reg: Registration) -> str:
    """The URN of the provider a resource's reference ("<urn>::<id>") names ("" = none)."""
    return reg.provider.rsplit("::", 1)[0] if reg.provider else ""


def dependency_graph(regs: Iterable[Registration]) -> dict[str, set[str]]:
    """URN -> URNs it waits for: dependencies, its parent and its provider (among `regs`)."""
    regs = list(regs)
    present = {r.urn for r in regs}
    return {r.urn: {u for u in (*r.dependencies, r.parent, provider_urn(r)) if u in present} for r in regs}


def topological(graph: Mapping[str, set[str]]) -> list[str]:
    """Dependencies before dependents; ties by URN, so the order is deterministic."""
    waiting = {urn: set(deps) for urn, deps in graph.items()}
    dependents: dict[str, set[str]] = {urn: set() for urn in graph}
    for urn, deps in graph.items():
        for dep in deps:
            dependents[dep].add(urn)
    ready = [urn for urn, deps in waiting.items() if not deps]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        urn = heapq.heappop(ready)
        order.append(urn)
        for dependent in dependents[urn]:
            waiting[dependent].discard(urn)
            if not waiting[dependent]:
                heapq.heappush(ready, dependent)
    if len(order) != len(graph):
        raise ValueError(f"dependency cycle among {sorted(set(graph) - set(order))}")
    return order


def reachable(graph: Mapping[str, Iterable[str]], urn: str) -> set[str]:
    """Everything `urn` waits for, directly or through others."""
    found: set[str] = set()
    todo = list(graph.get(urn, ()))
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(graph.get(current, ()))
    return found


def dependents_of(graph: Mapping[str, set[str]], urn: str) -> set[str]:
    """Every URN that waits for `urn`, directly or through others."""
    found: set[str] = set()
    todo = [u for u, deps in graph.items() if urn in deps]
    while todo:
        current = todo.pop()
        if current not in found:
            found.add(current)
            todo.extend(u for u, deps in graph.items() if current in deps)
    return found
