"""The modelled time from nothing to a cluster serving traffic, and the path that decides it.

Pure: a `Plan`'s recorded dependency graph plus the table of per-step estimates below, nothing else.

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

"Serving traffic" (`serves_traffic`): every Ingress is created and awaited (it has a load balancer
status from Traefik and its backends' Endpoints exist; the apps' Ingresses also wait for every workload,
the routes phase), the Traefik HelmChartConfig is applied and Traefik restarted with it, every proxied
DNS record of a public hostname exists, and the zone's `ssl` setting is set. The api's first-boot
database migration (its startupProbe allows up to 240 s) is excluded, as issue 8 asks: the api rollout
is modelled as if the schema were already current.
"""

from __future__ import annotations

import fnmatch
import heapq
from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from offline.records import Plan, Registration

SKIP_AWAIT = "pulumi.com/skipAwait"
WORKLOAD_TYPES = frozenset(
    {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet"}
)
SERVICE_TYPE = "kubernetes:core/v1:Service"
INGRESS_TYPE = "kubernetes:networking.k8s.io/v1:Ingress"
HELM_CHART_CONFIG_TYPE = "kubernetes:helm.cattle.io/v1:HelmChartConfig"
DNS_RECORD_TYPE = "cloudflare:index/dnsRecord:DnsRecord"
ZONE_SETTING_TYPE = "cloudflare:index/zoneSetting:ZoneSetting"


class CriticalPathError(ValueError):
    """The graph can't be scheduled: a cycle, a resource without an estimate, or nothing to reach."""


# ------------------------------------------------------------------------------------ estimates


def _metadata(reg: Registration) -> dict[str, Any]:
    meta = reg.inputs.get("metadata")
    return meta if isinstance(meta, dict) else {}


def skips_await(reg: Registration) -> bool:
    """The Kubernetes object opts out of pulumi-kubernetes' await logic."""
    annotations = _metadata(reg).get("annotations")
    return isinstance(annotations, dict) and str(annotations.get(SKIP_AWAIT, "")).lower() == "true"


def _spec(reg: Registration) -> dict[str, Any]:
    spec = reg.inputs.get("spec")
    return spec if isinstance(spec, dict) else {}


def awaits_endpoints(reg: Registration) -> bool:
    """A Service pulumi-kubernetes awaits until its Endpoints target a ready pod."""
    spec = _spec(reg)
    return (
        reg.type == SERVICE_TYPE
        and not skips_await(reg)
        and bool(spec.get("selector"))
        and spec.get("clusterIP") != "None"
        and spec.get("type", "ClusterIP") != "ExternalName"
    )


@dataclass(frozen=True, kw_only=True)
class Estimate:
    """How long one step takes, for the resources whose type and name match."""

    step: str
    """What happens, in a few words."""
    type: str
    """fnmatch pattern on the resource type."""
    name: str = "*"
    """fnmatch pattern on the resource name."""
    seconds: float
    """Modelled duration from start (every predecessor done) to done, as the engine sees it."""
    basis: str
    """Where the number comes from (one line)."""
    when: Callable[[Registration], bool] | None = field(default=None, compare=False)
    """A further condition on the registration, if any."""

    def matches(self, reg: Registration) -> bool:
        return (
            fnmatch.fnmatchcase(reg.type, self.type)
            and fnmatch.fnmatchcase(reg.name, self.name)
            and (self.when is None or self.when(reg))
        )


K8S = "kubernetes:*"
# First match wins: specific rows before general ones. Seconds are typical values on Hetzner Cloud
# (nbg1, CX33: 4 vCPU, 8 GB) from a CI runner in Europe, rounded up; the basis says why.
ESTIMATES: tuple[Estimate, ...] = (
    # --- local providers ---------------------------------------------------------------------------
    Estimate(step="generate a key", type="tls:index/privateKey:PrivateKey", seconds=1,
             basis="ED25519/ECDSA key made locally by the tls provider: no API call"),
    Estimate(step="make a CSR", type="tls:index/certRequest:CertRequest", seconds=1,
             basis="signed locally by the tls provider"),
    Estimate(step="generate a password", type="random:index/*", seconds=1,
             basis="local crypto/rand in the random provider"),
    # --- Hetzner Cloud -----------------------------------------------------------------------------
    Estimate(step="Hetzner SSH key", type="hcloud:index/sshKey:SshKey", seconds=2,
             basis="one synchronous POST /ssh_keys; no action to poll"),
    Estimate(step="Hetzner placement group", type="hcloud:index/placementGroup:PlacementGroup", seconds=2,
             basis="one synchronous POST /placement_groups"),
    Estimate(step="Hetzner network", type="hcloud:index/network:Network", seconds=2,
             basis="POST /networks plus the change_protection action"),
    Estimate(step="Hetzner subnet", type="hcloud:index/networkSubnet:NetworkSubnet", seconds=3,
             basis="add_subnet action, polled by the provider until done (1-3 s)"),
    Estimate(step="Hetzner firewall", type="hcloud:index/firewall:Firewall", seconds=3,
             basis="POST /firewalls and its set_rules action"),
    Estimate(step="Hetzner server create", type="hcloud:index/server:Server", seconds=35,
             basis="create_server action until 'running' (~10-20 s), then the attach_to_network and "
                   "change_protection actions the provider polls: 30-40 s for a server with a network"),
    # --- K3s over SSH (components/k3s/cluster.py; scripts/k3s/*.sh) ----------------------------------------
    Estimate(step="boot + cloud-init first boot", type="command:remote:Command", name="*-cloud-init", seconds=70,
             basis="sshd of Ubuntu 24.04 answers ~15-20 s after 'running' (dial_error_limit=-1 retries), then "
                   "`cloud-init status --wait`: package_update (apt-get update, ~10-20 s on Hetzner's mirror), "
                   "ufw (preinstalled on Ubuntu cloud images) and the firewall script; 60-90 s after create"),
    # Agents (components/k3s/agents.py): before the server rows, whose name patterns they would match too.
    Estimate(step="agent: install K3s, join", type="command:remote:Command", name="*-agent-*-install", seconds=30,
             basis="download as a server's; `k3s agent` registers with the API, no etcd to join: ~15-25 s"),
    Estimate(step="agent: wait for node Ready", type="command:remote:Command", name="*-agent-*-ready", seconds=15,
             basis="as a server's Ready, polled from server 1"),
    Estimate(step="agent: drain (nothing to do at create)", type="command:remote:Command", name="*-agent-*-drain",
             seconds=3, basis="at creation the release is current: one SSH session to server 1, no drain"),
    Estimate(step="agent: settle (Ready, uncordoned)", type="command:remote:Command", name="*-agent-*-settle",
             seconds=5, basis="agent-ready.sh on a Ready node from server 1: one SSH session"),
    Estimate(step="delete-only step", type="command:remote:Command", name="*-agent-*-wipe", seconds=0,
             basis="only a delete command: nothing runs at create"),
    Estimate(step="inert predecessor of a delete-only step", type="command:remote:Command",
             name="*-agent-*-uninstall", seconds=0, basis="no command at all (components/k3s/steps.py leave_step)"),
    Estimate(step="first server: install K3s, start etcd", type="command:remote:Command", name="*-1-install",
             seconds=35,
             basis="install.sh of the release + the k3s binary (<70 MB, GitHub) ~5-10 s; `systemctl restart "
                   "k3s` returns once K3s notifies systemd: etcd initialised, API server up, ~20-30 s"),
    Estimate(step="join a server (etcd learner)", type="command:remote:Command", name="*-install", seconds=60,
             basis="same download, then the etcd learner catches up and is promoted before the start returns "
                   "(~30-50 s); joins are serial by design (etcd admits one learner at a time)"),
    Estimate(step="wait for node Ready", type="command:remote:Command", name="*-ready", seconds=15,
             basis="kubelet registers and flannel sets up the node: Ready ~10-20 s after the API answers "
                   "(wait-ready.sh polls every POLL_INTERVAL)"),
    Estimate(step="converge (nothing to do at create)", type="command:remote:Command", name="*-converge",
             seconds=5,
             basis="at creation upgrade.sh and install.sh find the release and config applied; one SSH "
                   "session + wait-ready on a Ready node"),
    Estimate(step="delete-only step", type="command:remote:Command", name="*-leave", seconds=0,
             basis="only a delete command: nothing runs at create"),
    Estimate(step="inert predecessor of a delete-only step", type="command:remote:Command", name="*-remove",
             seconds=0, basis="no command at all (components/k3s/steps.py leave_step)"),
    Estimate(step="deployer kubeconfig", type="command:remote:Command", name="*-kubeconfig", seconds=5,
             basis="one SSH session: the helm.cattle.io CRDs are registered by K3s's helm-controller as the API "
                   "starts (established before the node is Ready), a kubectl apply/delete/create and the token "
                   "controller filling the Secret (sub-second)"),
    Estimate(step="re-apply the node firewall", type="command:remote:Command", name="*-firewall-sync-*",
             seconds=5, basis="one SSH session; UFW is already converged by cloud-init, so the script changes nothing"),
    Estimate(step="unattended-upgrades settings", type="command:remote:Command", name="*-node-upgrades-*",
             seconds=5, basis="one SSH session: cloud-init already installed the packages, so the step writes two "
                   "apt.conf.d files, finds the packages, enables the timers (scripts/node/unattended-upgrades.sh)"),
    # --- Cloudflare --------------------------------------------------------------------------------
    Estimate(step="Cloudflare DNS record", type=DNS_RECORD_TYPE, seconds=2,
             basis="one POST /zones/:id/dns_records; the zone is on Cloudflare, so a proxied record answers "
                   "at the edge at once (no TTL to wait out)"),
    Estimate(step="Cloudflare zone setting", type=ZONE_SETTING_TYPE, seconds=2,
             basis="one PATCH /zones/:id/settings/:id; effective at the edge within seconds"),
    Estimate(step="Origin CA certificate", type="cloudflare:index/originCaCertificate:OriginCaCertificate",
             seconds=3, basis="one POST /certificates; issued synchronously"),
    # --- Kubernetes (pulumi-kubernetes await logic: provider/pkg/await/*) ----------------------------
    Estimate(step="Kubernetes object (not awaited)", type=K8S, seconds=1, when=skips_await,
             basis="pulumi.com/skipAwait: one API create, no await"),
    Estimate(step="api rollout (migration excluded)", type="kubernetes:apps/v1:Deployment", name="*-api",
             seconds=30,
             basis="pull the Go image (tens of MB, ghcr.io) ~5-10 s, start, startupProbe /healthz passes at its "
                   "first 5 s period (schema current: migration excluded per issue 8), /readyz 5 s later; the 3 "
                   "replicas start together (maxSurge limits updates only)"),
    Estimate(step="admin rollout", type="kubernetes:apps/v1:Deployment", name="*-admin", seconds=35,
             basis="Next.js standalone image (~100-200 MB) pull + unpack ~10-20 s, server start ~5 s, startupProbe "
                   "at 5 s periods, then the readinessProbe at its 10 s period"),
    Estimate(step="worker rollout", type="kubernetes:apps/v1:Deployment", name="*-worker", seconds=15,
             basis="image pull ~5-10 s; no probes, so available as soon as the container runs"),
    Estimate(step="Deployment rollout", type="kubernetes:apps/v1:Deployment", seconds=35,
             basis="any other Deployment: as the slowest app (admin) until measured"),
    Estimate(step="redis rollout (Hetzner Cloud Volume)", type="kubernetes:apps/v1:StatefulSet", seconds=45,
             basis="hcloud CSI: create_volume and attach_volume actions (~5-10 s each, polled by the driver), "
                   "mkfs.ext4 + mount ~5 s; the CSI driver's own pods start in parallel with the apps' setup "
                   "phase; redis alpine (~15 MB) pull ~5 s, startupProbe PING at its first 5 s period; Pulumi "
                   "awaits readyReplicas"),
    Estimate(step="DaemonSet rollout", type="kubernetes:apps/v1:DaemonSet", seconds=30,
             basis="kured (~20 MB) or the hcloud CSI node plugin (three small images) pulled and started on "
                   "every node in parallel; Pulumi awaits numberReady of the desired pods"),
    Estimate(step="Service: endpoints ready + 10 s settle", type=SERVICE_TYPE, seconds=11, when=awaits_endpoints,
             basis="create, then service.go waits for Endpoints with a ready pod and 10 s after the last "
                   "Endpoints event for stragglers"),
    Estimate(step="Service (headless: not awaited)", type=SERVICE_TYPE, seconds=1,
             basis="headless/ExternalName Services are ready once created (service.go)"),
    Estimate(step="Ingress: status + 10 s settle", type=INGRESS_TYPE, seconds=12,
             basis="create; Traefik writes the apex (ingressEndpoint.hostname) as the status on its next sync, "
                   "once the HelmChartConfig's restart (created a minute earlier) is through; ingress.go "
                   "waits 10 s after Endpoints events to settle"),
    Estimate(step="Traefik: HelmChartConfig + restart", type=HELM_CHART_CONFIG_TYPE, seconds=60,
             basis="created without await; K3s's helm-controller re-runs helm-install-traefik (~15-20 s) and the "
                   "hostNetwork DaemonSet pod starts on the Ready node; covers K3s's own first Traefik install "
                   "(image ~50 MB) still running"),
    Estimate(step="Namespace", type="kubernetes:core/v1:Namespace", seconds=2,
             basis="create; Pulumi waits for phase Active, immediate for a new namespace"),
    Estimate(step="Kubernetes object", type=K8S, seconds=1,
             basis="ConfigMap, Secret, ServiceAccount, NetworkPolicy, PodDisruptionBudget, RBAC, StorageClass, "
                   "CSIDriver, CronJob: one API create, no await logic"),
)  # fmt: skip


def estimate_for(reg: Registration, estimates: Sequence[Estimate] = ESTIMATES) -> Estimate | None:
    """The estimate of a custom resource (first match), None for components and providers (no time)."""
    if not reg.custom or reg.type.startswith("pulumi:providers:"):
        return None
    for estimate in estimates:
        if estimate.matches(reg):
            return estimate
    raise CriticalPathError(f"no estimate for {reg.type} {reg.name}: add a row to offline.critical_path.ESTIMATES")


# ---------------------------------------------------------------------------------------- graph


def serves_traffic(reg: Registration) -> bool:
    """Part of the sink "serving traffic" (see the module doc)."""
    if reg.type in (INGRESS_TYPE, HELM_CHART_CONFIG_TYPE):
        return True
    if reg.type == DNS_RECORD_TYPE:
        return reg.inputs.get("proxied") is True
    return reg.type == ZONE_SETTING_TYPE and reg.inputs.get("settingId") == "ssl"


@dataclass(frozen=True)
class Edge:
    """`source` must finish before `target` can: why, when no registered dependency says so."""

    source: str
    target: str
    reason: str


def _selects(selector: Mapping[str, Any], workload: Registration) -> bool:
    template = _spec(workload).get("template")
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
        namespace, selector = _metadata(service).get("namespace"), _spec(service)["selector"]
        for workload in workloads:
            if _metadata(workload).get("namespace") == namespace and _selects(selector, workload):
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


# -------------------------------------------------------------------------------- longest path


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


# ------------------------------------------------------------------------------- critical path


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


__all__ = [
    "ESTIMATES",
    "CriticalPath",
    "CriticalPathError",
    "Edge",
    "Estimate",
    "Schedule",
    "Step",
    "ancestors",
    "await_edges",
    "critical_path",
    "critical_path_or_reason",
    "dependency_graph",
    "estimates_table",
    "longest_path",
    "path_table",
    "serves_traffic",
]
