"""Pictures of a plan for Graphviz: an overview of the components, and every resource in detail.

Both draw the critical path to serving traffic (`offline.critical_path`) in bold red: by default the
plan's own, computed here; pass `critical=` to reuse one, or None for a plain picture. An edge of the
path that is no registered dependency (a provider, pulumi-kubernetes' await of a Service) is dashed.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Literal

from offline.critical_path import CriticalPath, critical_path_or_reason, minutes
from offline.records import Plan, Registration

HEADER = '  rankdir=LR; compound=true; fontname="Helvetica"; node [fontname="Helvetica", fontsize=10];'
CRITICAL = 'color="#d62728", penwidth=2.5'
Critical = CriticalPath | Literal["auto"] | None


def _resolve(plan: Plan, critical: Critical) -> CriticalPath | None:
    if critical != "auto":
        return critical
    found = critical_path_or_reason(plan)
    return found if isinstance(found, CriticalPath) else None


def _title(plan: Plan, cp: CriticalPath | None) -> str:
    title = f"honeydue / {plan.stack}: {len(plan.registrations)} resources"
    if cp is not None:
        title += f"; critical path to serving traffic (red): {minutes(cp.seconds)} modelled"
    return title


def top_component(reg: Registration, by_urn: dict[str, Registration]) -> Registration:
    """The outermost component a resource belongs to (itself when it is top-level)."""
    while reg.parent in by_urn:
        reg = by_urn[reg.parent]
    return reg


def overview_dot(plan: Plan, critical: Critical = "auto") -> str:
    """One box per top-level component (its resources counted by type), edges where one waits on another."""
    cp = _resolve(plan, critical)
    by_urn = plan.by_urn()
    members: dict[str, list[Registration]] = defaultdict(list)
    for reg in plan.registrations:
        members[top_component(reg, by_urn).urn].append(reg)
    tops = sorted((by_urn[u] for u in members if not by_urn[u].type.startswith("pulumi:providers:")),
                  key=lambda r: r.urn)  # fmt: skip
    ids = {reg.urn: f"c{i}" for i, reg in enumerate(tops)}
    lines = ["digraph overview {", HEADER, f'  label="{_title(plan, cp)}";',
             "  labelloc=t; node [shape=box, style=rounded];"]  # fmt: skip
    on_path = {top_component(by_urn[u], by_urn).urn for u in cp.urns} if cp else set()
    for top in tops:
        counts: dict[str, int] = defaultdict(int)
        for reg in members[top.urn]:
            if reg.custom:
                counts[reg.type.split(":")[-1]] += 1
        summary = "\\n".join(f"{n} × {t}" for t, n in sorted(counts.items()))
        style = f", {CRITICAL}" if top.urn in on_path else ""
        lines.append(f'  {ids[top.urn]} [label="{top.type.split(":")[-1]} {top.name}\\n{summary}"{style}];')
    lines += _overview_edges(plan, ids, cp)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _overview_edges(plan: Plan, ids: dict[str, str], cp: CriticalPath | None) -> list[str]:
    """Edges between the components `ids` names, those of the critical path in red (dashed: no dependency)."""
    by_urn = plan.by_urn()

    def between(a: str, b: str) -> tuple[str, str] | None:
        source, to = top_component(by_urn[a], by_urn).urn, top_component(by_urn[b], by_urn).urn
        return (ids[source], ids[to]) if source != to and source in ids and to in ids else None

    pairs = [(dep, reg.urn) for reg in plan.registrations for dep in reg.dependencies if dep in by_urn]
    edges = {e for e in (between(a, b) for a, b in pairs) if e}
    critical = {e for e in (between(a, b) for a, b in (cp.edges if cp else ())) if e}
    lines = []
    for a, b in sorted(edges | critical):
        if (a, b) not in critical:
            lines.append(f"  {a} -> {b};")
        else:
            lines.append(f"  {a} -> {b} [{CRITICAL}{'' if (a, b) in edges else ', style=dashed'}];")
    return lines


def resources_dot(plan: Plan, critical: Critical = "auto") -> str:
    """Components as clusters, custom resources as boxes, dependencies as edges."""
    cp = _resolve(plan, critical)
    on_path = cp.urns if cp else frozenset()
    path_edges = cp.edges if cp else frozenset()
    by_urn = plan.by_urn()
    children: dict[str, list[Registration]] = defaultdict(list)
    for reg in plan.registrations:
        children[reg.parent if reg.parent in by_urn else ""].append(reg)
    ids = {reg.urn: f"n{i}" for i, reg in enumerate(sorted(plan.registrations, key=lambda r: r.urn))}
    depended_on = {dep for reg in plan.registrations for dep in reg.dependencies}
    lines = [
        "digraph plan {",
        HEADER,
        f'  label="{_title(plan, cp)}"; labelloc=t;',
    ]

    def emit(parent: str, indent: str) -> None:
        for reg in sorted(children[parent], key=lambda r: (r.type, r.name)):
            short = reg.type.split(":")[-1]
            if reg.custom:
                style = ', style="filled", fillcolor="#e8f0fe"' if reg.protect else ""
                style += f", {CRITICAL}" if reg.urn in on_path else ""
                lines.append(f'{indent}{ids[reg.urn]} [shape=box, label="{short}\\n{reg.name}"{style}];')
            else:
                lines.append(f"{indent}subgraph cluster_{ids[reg.urn]} {{")
                lines.append(f'{indent}  label="{reg.type}\\n{reg.name}"; style=rounded; color="#888888";')
                if reg.urn in depended_on:  # an anchor for edges to the component as a whole
                    lines.append(f"{indent}  {ids[reg.urn]} [shape=point, width=0.05];")
                emit(reg.urn, indent + "  ")
                lines.append(f"{indent}}}")

    emit("", "  ")
    drawn = set()
    for reg in sorted(plan.registrations, key=lambda r: r.urn):
        for dep in reg.dependencies:
            if dep in ids and dep != reg.parent:
                drawn.add((dep, reg.urn))
                style = f" [{CRITICAL}]" if (dep, reg.urn) in path_edges else ""
                lines.append(f"  {ids[dep]} -> {ids[reg.urn]}{style};")
    for a, b in sorted(path_edges - drawn):
        reason = cp.implicit.get((a, b), "") if cp else ""
        label = "await" if reason.startswith("awaited") else reason
        lines.append(f'  {ids[a]} -> {ids[b]} [{CRITICAL}, style=dashed, label="{label}", fontcolor="#d62728"];')
    lines.append("}")
    return "\n".join(lines) + "\n"
