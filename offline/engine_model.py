"""The data and the graph of the engine-diff model (offline.engine_diff), and the rules it follows.

The rules, each from the engine's step generator
(ENGINE = pkg/resource/deploy/step_generator.go at the commit in the URL):
* a resource's own input diff decides (a dependent is not replaced because its dependency was); paths
  under `ignoreChanges` keep their old value (engine `processIgnoreChanges`);
* a change on a replace-forcing property (offline.replace_rules), on `replaceOnChanges`
  (`applyReplaceOnChanges`), a `--replace` target (`isTargetedReplace`) or a replaced provider
  (`providerChanged`: the reference's ID changes and the new provider's DiffConfig asks for it) replaces;
* a replacement is create-before-delete, the old one deleted with the other deletes at the end, unless
  `deleteBeforeReplace`: then the old one and every dependent that is replaced too are deleted first,
  dependents first (`calculateDependentReplacements`, L2043-L2130);
* replacing is refused while the resource is protected in state and program (L1954-L1972), and while it
  still carries `import` (L1974-L1997); deleting a protected resource fails (step.go `deleteProtectedError`);
* creates and updates follow dependencies; deletes run in reverse dependency order (`ScheduleDeletes`).
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from offline.records import Registration, SecretValue, Unknown

ENGINE = "https://github.com/pulumi/pulumi/blob/1b5949891b3cefcb9974752b24a5ecef0acc86c8/pkg/resource/deploy/"


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
    """Replaced because `pulumi up --replace` names it: ignored inputs then keep their old values."""
    blocked: str = ""
    """Why the engine or the provider refuses the step ("" = it goes through)."""


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


def path_matches(pattern: str, path: str) -> bool:
    """Whether `path` lies under `pattern` or contains it (`*` matches any key or index)."""
    pat, got = _tokens(pattern), _tokens(path)
    return all(p in ("*", g) for p, g in zip(pat, got, strict=False))


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
