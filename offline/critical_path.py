"""The modelled time from nothing to a cluster serving traffic, and the path that decides it.

Pure: a `Plan`'s recorded dependency graph (offline/await_graph.py) plus the table of per-step estimates
(offline/estimates.py), nothing else.

The graph is the one the engine schedules by. A resource waits for
  * every URN in its registered `dependencies`;
  * its provider (the Kubernetes objects wait for the cluster's provider, which waits for the kubeconfig);
  * what pulumi-kubernetes' await logic makes its create wait for although no dependency says so: a
    ClusterIP Service with a selector is created and then *awaited* until its Endpoints target a ready
    pod (provider/pkg/await/service.go; headless and ExternalName Services are not), so it finishes
    only after the workloads it selects have rolled out. `pulumi.com/skipAwait: "true"` turns that off.
Every resource starts when the last of those finished and takes its estimate (`ESTIMATES`: the first
row matching type and name wins; component resources and providers take no time). The model assumes
unlimited parallelism, as the engine has by default (`pulumi up --parallel` is unbounded unless set).

"Serving traffic" (`serves_traffic`): every Ingress is created and awaited (pulumi-kubernetes
provider/pkg/await/ingress.go: a non-empty `status.loadBalancer.ingress`, which Traefik writes
(components/k8s/traefik_values.ingress_endpoint_values), always required, L321-L335; and an Endpoints object
per backend Service, L393-L433, which stops blocking once 60 s pass without endpoint events, L151,
L256-L262; 10 minutes, then the step fails, L69-L71; the apps' Ingresses also wait for every workload,
the routes phase), the Traefik HelmChartConfig is applied and Traefik restarted with it, every proxied
DNS record of a public hostname exists, and the zone's `ssl` setting is set. The api's first-boot
database migration (its startupProbe allows up to 240 s) is excluded, as issue 8 asks: the api rollout
is modelled as if the schema were already current.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from offline.await_graph import Schedule, dependency_graph, longest_path, serves_traffic
from offline.estimates import ESTIMATES, CriticalPathError, Estimate, estimate_for
from offline.records import Plan


@dataclass(frozen=True)
class Step:
    """One resource on the critical path."""

    urn: str
    name: str
    type: str
    step: str
    """The estimate's description ('' for components and providers)."""
    start: float
    finish: float
    via: str
    """How it waits for the previous step: 'dependency', 'provider' or the await reason."""

    @property
    def seconds(self) -> float:
        return self.finish - self.start


@dataclass(frozen=True)
class CriticalPath:
    seconds: float
    """Modelled time from nothing to serving traffic."""
    steps: tuple[Step, ...]
    schedule: Schedule
    sink: tuple[str, ...]
    """URNs of the resources that together mean serving traffic."""
    implicit: dict[tuple[str, str], str]
    """Edges of the graph that are not registered dependencies (provider, await), with their reason."""
    estimates: dict[str, Estimate | None]
    """The estimate each URN took (None: component or provider)."""

    @property
    def urns(self) -> frozenset[str]:
        return frozenset(step.urn for step in self.steps)

    @property
    def edges(self) -> frozenset[tuple[str, str]]:
        """(from, to) of consecutive steps."""
        return frozenset((a.urn, b.urn) for a, b in zip(self.steps, self.steps[1:], strict=False))


def critical_path(plan: Plan, estimates: Sequence[Estimate] = ESTIMATES) -> CriticalPath:
    """The critical path of a plan to serving traffic (see the module doc)."""
    preds, implicit = dependency_graph(plan)
    chosen = {reg.urn: estimate_for(reg, estimates) for reg in plan.registrations}
    seconds = {urn: (e.seconds if e else 0.0) for urn, e in chosen.items()}
    sink = tuple(sorted(r.urn for r in plan.registrations if serves_traffic(r)))
    schedule = longest_path(preds, seconds, sink)
    by_urn = plan.by_urn()
    steps = []
    previous = ""
    for urn in schedule.path:
        reg, estimate = by_urn[urn], chosen[urn]
        via = implicit.get((previous, urn), "dependency") if previous else ""
        steps.append(
            Step(urn, reg.name, reg.type, estimate.step if estimate else "", schedule.start[urn],
                 schedule.finish[urn], via)
        )  # fmt: skip
        previous = urn
    return CriticalPath(schedule.seconds, tuple(steps), schedule, sink, implicit, chosen)


def critical_path_or_reason(plan: Plan) -> CriticalPath | str:
    """The critical path, or why there is none (for pictures that must still be drawn)."""
    try:
        return critical_path(plan)
    except CriticalPathError as error:
        return str(error)


# ------------------------------------------------------------------------------------- reports


def minutes(seconds: float) -> str:
    """1m05s."""
    whole = round(seconds)
    return f"{whole // 60}m{whole % 60:02d}s"


def _short(type_: str) -> str:
    return type_.split(":")[-1]


def path_table(cp: CriticalPath) -> str:
    """The path as a Markdown table, then the total."""
    lines = ["| at | takes | step | resource | waits via |", "|---:|---:|---|---|---|"]
    for step in cp.steps:
        if step.seconds == 0 and not step.step:
            continue  # components and providers: no time, no step of their own
        lines.append(
            f"| {minutes(step.start)} | {step.seconds:g} s | {step.step} | {_short(step.type)} `{step.name}` "
            f"| {step.via or '-'} |"
        )
    lines.append(f"\nModelled time to serving traffic: **{minutes(cp.seconds)}** ({cp.seconds:g} s).")
    return "\n".join(lines)


def estimates_table(estimates: Sequence[Estimate] = ESTIMATES) -> str:
    """The estimates as a Markdown table."""
    lines = ["| step | type | name | s | basis |", "|---|---|---|---:|---|"]
    for e in estimates:
        when = f" if {e.when.__name__}" if e.when else ""
        lines.append(f"| {e.step} | `{e.type}` | `{e.name}`{when} | {e.seconds:g} | {e.basis} |")
    return "\n".join(lines)
