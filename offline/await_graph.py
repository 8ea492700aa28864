"""The graph the engine schedules by (registered dependencies, providers, pulumi-kubernetes' awaits) and
its longest path under the per-step estimates (offline/critical_path.py explains the model).
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from components import naming
from offline.estimates import (
    DNS_RECORD_TYPE,
    HELM_CHART_CONFIG_TYPE,
    INGRESS_TYPE,
    WORKLOAD_TYPES,
    ZONE_SETTING_TYPE,
    CriticalPathError,
    awaits_endpoints,
    object_metadata,
    object_spec,
)
from offline.records import Plan, Registration

FIRST_SERVER = f"{naming.NODES}-1"


def serves_traffic(reg: Registration) -> bool:
    """Part of the sink "serving traffic" (see the module doc)."""
    if reg.type in (INGRESS_TYPE, HELM_CHART_CONFIG_TYPE):
        return True
    if reg.type == DNS_RECORD_TYPE:
        # The site serves once server 1's proxied records exist; every other server's join the rotation when that
        # server serves (components/edge/serving.py), later on a first `up` since servers join one at a time.
        return reg.inputs.get("proxied") is True and reg.name.endswith(f"-{FIRST_SERVER}")
    return reg.type == ZONE_SETTING_TYPE and reg.inputs.get("settingId") == "ssl"


@dataclass(frozen=True)
class Edge:
    """`source` must finish before `target` can: why, when no registered dependency says so."""

    source: str
    target: str
    reason: str


def _selects(selector: Mapping[str, Any], workload: Registration) -> bool:
    template = object_spec(workload).get("template")
    meta = template.get("metadata") if isinstance(template, dict) else None
    labels = meta.get("labels") if isinstance(meta, dict) else None
    return isinstance(labels, dict) and all(labels.get(k) == v for k, v in selector.items())


def await_edges(plan: Plan) -> list[Edge]:
    """Workload -> Service for every awaited Service and the workloads whose pods it selects."""
    workloads = [r for r in plan.registrations if r.type in WORKLOAD_TYPES]
    edges = []
    for service in plan.registrations:
        if not awaits_endpoints(service):
            continue
        namespace, selector = object_metadata(service).get("namespace"), object_spec(service)["selector"]
        for workload in workloads:
            if object_metadata(workload).get("namespace") == namespace and _selects(selector, workload):
                reason = f"awaited: Service {service.name} is done once {workload.name}'s pods are ready"
                edges.append(Edge(workload.urn, service.urn, reason))
    return edges


def provider_edges(plan: Plan) -> list[Edge]:
    """Provider -> resource: a resource can't be created before its provider is configured."""
    urns = {r.urn for r in plan.registrations}
    edges = []
    for reg in plan.registrations:
        provider = reg.provider.rsplit("::", 1)[0] if reg.provider else ""
        if provider in urns:
            edges.append(Edge(provider, reg.urn, "provider"))
    return edges


def dependency_graph(plan: Plan) -> tuple[dict[str, set[str]], dict[tuple[str, str], str]]:
    """Predecessors of every URN, and the reason of each edge that is not a registered dependency."""
    urns = {r.urn for r in plan.registrations}
    preds: dict[str, set[str]] = {r.urn: {d for d in r.dependencies if d in urns} for r in plan.registrations}
    implicit: dict[tuple[str, str], str] = {}
    for edge in [*provider_edges(plan), *await_edges(plan)]:
        if edge.source not in preds[edge.target]:
            preds[edge.target].add(edge.source)
            implicit[(edge.source, edge.target)] = edge.reason
    return preds, implicit


@dataclass(frozen=True)
class Schedule:
    """Earliest start/finish of every node, and the longest path into the given sinks."""

    start: dict[str, float]
    finish: dict[str, float]
    seconds: float
    """When the last sink finishes."""
    path: tuple[str, ...]
    """From a source to the sink that finishes last; each node starts when its predecessor finishes."""
    needed: frozenset[str]
    """The sinks and everything they (transitively) wait for."""
    slack: dict[str, float]
    """For needed nodes: how much later they could finish without delaying the last sink."""


def _cycle(preds: Mapping[str, Collection[str]], among: Collection[str]) -> list[str]:
    """One cycle among the given nodes (which all lie on or behind a cycle)."""
    remaining = set(among)
    node = min(remaining)
    seen: list[str] = []
    while node not in seen:
        seen.append(node)
        node = min(p for p in preds[node] if p in remaining)
    return [*seen[seen.index(node) :], node]


def _topological(preds: Mapping[str, Collection[str]]) -> list[str]:
    """Kahn's algorithm, smallest key first among the ready ones, so the order is deterministic."""
    succs: dict[str, list[str]] = defaultdict(list)
    waiting = {}
    for node, before in preds.items():
        for p in before:
            if p not in preds:
                raise CriticalPathError(f"{node} waits for {p}, which is not in the graph")
            succs[p].append(node)
        waiting[node] = len(before)
    ready = [n for n, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    order = []
    while ready:
        node = heapq.heappop(ready)
        order.append(node)
        for succ in succs[node]:
            waiting[succ] -= 1
            if waiting[succ] == 0:
                heapq.heappush(ready, succ)
    if len(order) != len(preds):
        stuck = [n for n, count in waiting.items() if count > 0]
        cycle = " waits for ".join(_cycle(preds, stuck))
        raise CriticalPathError(f"dependency cycle (it can never finish): {cycle}")
    return order


def ancestors(preds: Mapping[str, Collection[str]], sinks: Iterable[str]) -> frozenset[str]:
    """The given nodes and everything they (transitively) wait for."""
    needed: set[str] = set()
    todo = list(sinks)
    while todo:
        node = todo.pop()
        if node not in needed:
            needed.add(node)
            todo.extend(preds[node])
    return frozenset(needed)


def longest_path(
    preds: Mapping[str, Collection[str]], seconds: Mapping[str, float], sinks: Collection[str]
) -> Schedule:
    """Earliest schedule with unlimited parallelism and the critical path into `sinks`.

    Ties (two predecessors finishing at the same time) go to the smallest key, so the path is stable.
    """
    if not sinks:
        raise CriticalPathError("no sink: nothing to reach")
    order = _topological(preds)
    start: dict[str, float] = {}
    finish: dict[str, float] = {}
    for node in order:
        start[node] = max((finish[p] for p in preds[node]), default=0.0)
        finish[node] = start[node] + seconds[node]
    last = max(sorted(sinks), key=lambda s: finish[s])
    path = [last]
    while preds[path[-1]]:
        node = path[-1]
        path.append(max(sorted(preds[node]), key=lambda p: finish[p]))
    needed = ancestors(preds, sinks)
    total = finish[last]
    latest = {node: total for node in needed}
    for node in reversed(order):
        if node in needed:
            for p in preds[node]:
                latest[p] = min(latest[p], latest[node] - seconds[node])
    slack = {node: round(latest[node] - finish[node], 6) for node in needed}
    return Schedule(start, finish, total, tuple(reversed(path)), needed, slack)
