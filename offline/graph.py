"""Pictures of a plan for Graphviz: an overview of the components, and every resource in detail."""

from __future__ import annotations

from collections import defaultdict

from offline.harness import Plan, Registration

HEADER = '  rankdir=LR; compound=true; fontname="Helvetica"; node [fontname="Helvetica", fontsize=10];'


def top_component(reg: Registration, by_urn: dict[str, Registration]) -> Registration:
    """The outermost component a resource belongs to (itself when it is top-level)."""
    while reg.parent in by_urn:
        reg = by_urn[reg.parent]
    return reg


def overview_dot(plan: Plan) -> str:
    """One box per top-level component (its resources counted by type), edges where one waits on another."""
    by_urn = plan.by_urn()
    members: dict[str, list[Registration]] = defaultdict(list)
    for reg in plan.registrations:
        members[top_component(reg, by_urn).urn].append(reg)
    tops = sorted((by_urn[u] for u in members if not by_urn[u].type.startswith("pulumi:providers:")),
                  key=lambda r: r.urn)  # fmt: skip
    ids = {reg.urn: f"c{i}" for i, reg in enumerate(tops)}
    lines = ["digraph overview {", HEADER, f'  label="honeydue / {plan.stack}: {len(plan.registrations)} resources";',
             "  labelloc=t; node [shape=box, style=rounded];"]  # fmt: skip
    for top in tops:
        counts: dict[str, int] = defaultdict(int)
        for reg in members[top.urn]:
            if reg.custom:
                counts[reg.type.split(":")[-1]] += 1
        summary = "\\n".join(f"{n} × {t}" for t, n in sorted(counts.items()))
        lines.append(f'  {ids[top.urn]} [label="{top.type.split(":")[-1]} {top.name}\\n{summary}"];')
    edges = set()
    for reg in plan.registrations:
        to = top_component(reg, by_urn).urn
        for dep in reg.dependencies:
            if dep in by_urn:
                source = top_component(by_urn[dep], by_urn).urn
                if source != to and source in ids and to in ids:
                    edges.add((ids[source], ids[to]))
    lines += [f"  {a} -> {b};" for a, b in sorted(edges)]
    lines.append("}")
    return "\n".join(lines) + "\n"


def resources_dot(plan: Plan) -> str:
    """Components as clusters, custom resources as boxes, dependencies as edges."""
    by_urn = plan.by_urn()
    children: dict[str, list[Registration]] = defaultdict(list)
    for reg in plan.registrations:
        children[reg.parent if reg.parent in by_urn else ""].append(reg)
    ids = {reg.urn: f"n{i}" for i, reg in enumerate(sorted(plan.registrations, key=lambda r: r.urn))}
    depended_on = {dep for reg in plan.registrations for dep in reg.dependencies}
    lines = [
        "digraph plan {",
        HEADER,
        f'  label="honeydue / {plan.stack}: {len(plan.registrations)} resources"; labelloc=t;',
    ]

    def emit(parent: str, indent: str) -> None:
        for reg in sorted(children[parent], key=lambda r: (r.type, r.name)):
            short = reg.type.split(":")[-1]
            if reg.custom:
                style = ', style="filled", fillcolor="#e8f0fe"' if reg.protect else ""
                lines.append(f'{indent}{ids[reg.urn]} [shape=box, label="{short}\\n{reg.name}"{style}];')
            else:
                lines.append(f"{indent}subgraph cluster_{ids[reg.urn]} {{")
                lines.append(f'{indent}  label="{reg.type}\\n{reg.name}"; style=rounded; color="#888888";')
                if reg.urn in depended_on:  # an anchor for edges to the component as a whole
                    lines.append(f"{indent}  {ids[reg.urn]} [shape=point, width=0.05];")
                emit(reg.urn, indent + "  ")
                lines.append(f"{indent}}}")

    emit("", "  ")
    for reg in sorted(plan.registrations, key=lambda r: r.urn):
        for dep in reg.dependencies:
            if dep in ids and dep != reg.parent:
                lines.append(f"  {ids[dep]} -> {ids[reg.urn]};")
    lines.append("}")
    return "\n".join(lines) + "\n"
