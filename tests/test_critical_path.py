"""The critical path to a cluster serving traffic (issue 8), modelled from the plan's own graph.

The longest-path computation on small hand-made graphs first, then prod: every resource has a documented
estimate, the modelled time from nothing to serving traffic is at most 4 minutes, and the design keeps
it short: the workloads wait for server 1's readiness and the kubeconfig, never for the other servers'
joins; what can run in parallel does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import pytest

from offline.await_graph import ancestors, await_edges, dependency_graph, longest_path
from offline.critical_path import CriticalPath, critical_path, estimates_table, path_table
from offline.estimates import ESTIMATES, CriticalPathError, estimate_for
from offline.harness import run_program
from offline.records import Plan
from offline.stack_config import declared_config

TARGET_SECONDS = 4 * 60
JOIN_STEP = re.compile(r"-k3s-([2-9]|\d\d+)-")  # a command of server 2, 3, … (never server 1's)
SERVER_1 = "honeydue-1"


# ------------------------------------------------------------------------- longest path, by hand


def test_a_diamond_takes_its_longer_branch() -> None:
    preds = {"a": set(), "b": {"a"}, "c": {"a"}, "d": {"b", "c"}}
    schedule = longest_path(preds, {"a": 1, "b": 5, "c": 2, "d": 1}, ["d"])
    assert schedule.seconds == 7
    assert schedule.path == ("a", "b", "d")
    assert schedule.start == {"a": 0, "b": 1, "c": 1, "d": 6}
    assert schedule.slack == {"a": 0, "b": 0, "c": 3, "d": 0}


def test_parallel_work_costs_its_longest_part_not_the_sum() -> None:
    preds = {"root": set(), **{f"w{i}": {"root"} for i in range(10)}, "end": {f"w{i}" for i in range(10)}}
    seconds = {"root": 2, **{f"w{i}": 10 + i for i in range(10)}, "end": 1}
    schedule = longest_path(preds, seconds, ["end"])
    assert schedule.seconds == 2 + 19 + 1
    assert schedule.path == ("root", "w9", "end")


def test_a_chain_costs_the_sum() -> None:
    preds = {"s1": set(), "s2": {"s1"}, "s3": {"s2"}}
    schedule = longest_path(preds, {"s1": 3, "s2": 4, "s3": 5}, ["s3"])
    assert schedule.seconds == 12
    assert schedule.path == ("s1", "s2", "s3")


def test_the_latest_sink_decides_and_what_no_sink_waits_for_is_not_needed() -> None:
    preds = {"a": set(), "sink1": {"a"}, "sink2": {"a"}, "slow-extra": {"a"}}
    seconds = {"a": 1, "sink1": 2, "sink2": 4, "slow-extra": 100}
    schedule = longest_path(preds, seconds, ["sink1", "sink2"])
    assert schedule.seconds == 5
    assert schedule.path == ("a", "sink2")
    assert "slow-extra" not in schedule.needed
    assert schedule.finish["slow-extra"] == 101  # scheduled all the same, just not waited for
    assert schedule.slack["sink1"] == 2


def test_ties_go_to_the_smallest_key_so_the_path_is_stable() -> None:
    preds = {"z": set(), "y": set(), "end": {"z", "y"}}
    assert longest_path(preds, {"z": 3, "y": 3, "end": 1}, ["end"]).path == ("y", "end")


def test_zero_time_steps_pass_their_start_on() -> None:
    preds = {"provider": set(), "key": {"provider"}, "use": {"key"}}
    schedule = longest_path(preds, {"provider": 0, "key": 0, "use": 2}, ["use"])
    assert schedule.seconds == 2
    assert schedule.start["use"] == 0


def test_a_cycle_is_reported_with_its_members() -> None:
    preds = {"a": {"c"}, "b": {"a"}, "c": {"b"}, "d": {"c"}}
    with pytest.raises(CriticalPathError, match=r"cycle.*a waits for c waits for b waits for a"):
        longest_path(preds, dict.fromkeys(preds, 1.0), ["d"])


def test_a_missing_predecessor_or_sink_is_an_error() -> None:
    with pytest.raises(CriticalPathError, match="not in the graph"):
        longest_path({"a": {"ghost"}}, {"a": 1}, ["a"])
    with pytest.raises(CriticalPathError, match="no sink"):
        longest_path({"a": set()}, {"a": 1}, [])


# ------------------------------------------------------------------------------------------ prod


@pytest.fixture(scope="module")
def prod_path(prod_plan: Plan) -> CriticalPath:
    return critical_path(prod_plan)


def _names(plan: Plan, urns: Iterable[str]) -> set[str]:
    by_urn = plan.by_urn()
    return {by_urn[u].name for u in urns}


@pytest.mark.parametrize("overrides", [{}, {"sslMode": "strict"}], ids=["prod", "prod-strict"])
def test_every_resource_has_a_documented_estimate(overrides: dict[str, str]) -> None:
    plan = run_program("prod", overrides)
    for reg in plan.registrations:
        estimate = estimate_for(reg)
        assert estimate is None or (estimate.basis and estimate.seconds >= 0), reg.name
    assert all(e.basis.strip() and e.step.strip() for e in ESTIMATES)
    assert estimates_table().count("\n") == len(ESTIMATES) + 1


def test_prod_serves_traffic_within_four_minutes(prod_path: CriticalPath) -> None:
    assert prod_path.seconds <= TARGET_SECONDS, "modelled time to serving traffic:\n" + path_table(prod_path)


def test_serving_traffic_means_routes_traefik_dns_and_the_ssl_mode(prod_plan: Plan, prod_path: CriticalPath) -> None:
    sink = {(r.type.split(":")[-1], r.name) for r in prod_plan.registrations if r.urn in prod_path.sink}
    kinds = {kind for kind, _ in sink}
    assert kinds == {"Ingress", "HelmChartConfig", "DnsRecord", "ZoneSetting"}
    assert ("ZoneSetting", "honeydue-edge-tls-ssl") in sink
    proxied = [r for r in prod_plan.by_type("cloudflare:index/dnsRecord:DnsRecord") if r.inputs["proxied"]]
    first = {("DnsRecord", r.name) for r in proxied if r.name.endswith("-honeydue-1")}
    # Server 1's records; the others join the rotation once their server serves, after its join.
    assert len(first) == 8 and first == {("DnsRecord", r.name) for r in proxied} & sink
    assert not any(name.startswith("honeydue-dns-k8s-") for _, name in sink)  # the API's DNS-only name
    # Every Ingress waits for every app workload: serving traffic includes the backends rolled out.
    workloads = [r.urn for r in prod_plan.registrations if r.type.startswith("kubernetes:apps/v1:")]
    apps = [urn for urn in workloads if "honeydue:apps:Apps$" in urn]
    assert apps and set(apps) <= prod_path.schedule.needed
    # The CSI driver and kured roll out beside the apps, never in front of them (the StorageClass is
    # all Redis's claim needs; a claim waits Pending for the provisioner).
    beside = [
        urn for urn in workloads if "honeydue:storage:Storage$" in urn or "honeydue:maintenance:Maintenance$" in urn
    ]
    assert len(beside) == 3 and not set(beside) & prod_path.schedule.needed


def test_the_path_runs_through_server_1_only(prod_plan: Plan, prod_path: CriticalPath) -> None:
    names = [step.name for step in prod_path.steps]
    assert SERVER_1 in names
    for step in ("cloud-init", "install", "ready"):
        assert f"honeydue-k3s-1-{step}" in names
    assert "honeydue-k3s-kubeconfig" in names
    others = [n for n in names if re.fullmatch(r"honeydue-[2-9]\d*(-.*)?", n) or JOIN_STEP.search(n)]
    assert not others, f"the path goes through another server: {others}\n{path_table(prod_path)}"


def test_workloads_never_wait_for_a_join(prod_plan: Plan, prod_path: CriticalPath) -> None:
    # Delete-only steps (a server's `-leave`, which its DNS records wait for so they go before its drain) run
    # nothing at creation.
    # A joining server's own first boot (`-cloud-init`, then `-rekey`, its own host key) is no join: it runs
    # while server 1 boots, and the Traefik rollout waits for it through that node's firewall step (the
    # sysctl that lets Traefik bind 80/443).
    joins = [
        r
        for r in prod_plan.by_type("command:remote:Command")
        if JOIN_STEP.search(r.name) and "create" in r.inputs and not r.name.endswith(("-cloud-init", "-rekey"))
    ]
    assert joins, "prod has 3 servers: servers 2 and 3 join"
    waited_for = _names(prod_plan, prod_path.schedule.needed)
    assert not waited_for & {r.name for r in joins}, "serving traffic waits for a join"
    # The joins are on their own branch: the last one finishes after the cluster serves traffic.
    assert max(prod_path.schedule.finish[r.urn] for r in joins) > prod_path.seconds


def test_kubernetes_objects_wait_for_server_1_ready_and_the_kubeconfig(
    prod_plan: Plan, prod_path: CriticalPath
) -> None:
    schedule, by_name = prod_path.schedule, {r.name: r.urn for r in prod_plan.registrations}
    kubeconfig_done = schedule.finish[by_name["honeydue-k3s-kubeconfig"]]
    assert kubeconfig_done >= schedule.finish[by_name["honeydue-k3s-1-ready"]]
    for reg in prod_plan.registrations:
        if reg.custom and reg.type.startswith("kubernetes:"):
            assert schedule.start[reg.urn] >= kubeconfig_done, reg.name
    steps = [step.name for step in prod_path.steps]
    assert steps.index("honeydue-k3s-kubeconfig") == steps.index("honeydue-k3s-1-ready") + 1


def test_nodes_boot_in_parallel_and_each_join_waits_only_for_the_one_before(
    prod_plan: Plan, prod_path: CriticalPath
) -> None:
    schedule, by_name = prod_path.schedule, {r.name: r.urn for r in prod_plan.registrations}
    servers = prod_plan.by_type("hcloud:index/server:Server")
    assert len({schedule.finish[s.urn] for s in servers}) == 1, "servers are created in parallel"
    cloud_init = [by_name[f"honeydue-k3s-{i}-cloud-init"] for i in range(1, len(servers) + 1)]
    assert len({schedule.finish[u] for u in cloud_init}) == 1, "every node boots while the others do"
    for i in range(2, len(servers) + 1):
        # The etcd join is the only serial part (one learner at a time): it starts the moment the server
        # before it is Ready and converged (no join while a server restarts), its own node long booted.
        install = by_name[f"honeydue-k3s-{i}-install"]
        assert schedule.start[install] == schedule.finish[by_name[f"honeydue-k3s-{i - 1}-converge"]]
        assert schedule.start[install] >= schedule.finish[by_name[f"honeydue-k3s-{i - 1}-ready"]]
        assert schedule.finish[by_name[f"honeydue-k3s-{i}-cloud-init"]] < schedule.start[install]


@pytest.mark.skipif("agentCount" not in declared_config(), reason="the stack config has no agent pool yet")
def test_agents_join_in_parallel_and_nothing_serving_traffic_waits_for_them() -> None:
    plan = run_program("prod", {"agentCount": 4})
    cp = critical_path(plan)
    installs = [r for r in plan.by_type("command:remote:Command") if re.search(r"-agent-\d+-install$", r.name)]
    assert len(installs) == 4
    assert len({cp.schedule.start[r.urn] for r in installs}) == 1, "agents join at the same time"
    assert not _names(plan, cp.schedule.needed) & {r.name for r in installs}
    assert cp.seconds == critical_path(run_program("prod")).seconds


def test_awaited_services_are_modelled(prod_plan: Plan) -> None:
    # pulumi-kubernetes awaits a ClusterIP Service until its pods are ready; a headless one it doesn't.
    edges = {(prod_plan.by_urn()[e.source].name, prod_plan.by_urn()[e.target].name) for e in await_edges(prod_plan)}
    assert ("honeydue-deployment-api", "honeydue-service-api") in edges
    assert not any(target == "honeydue-service-redis" for _, target in edges)


def test_no_workload_waits_for_another_workloads_rollout(prod_plan: Plan) -> None:
    # Nothing waits on what it does not need: pods find each other through Services at run time, so a
    # rollout must never wait for another one (e.g. through a Service pulumi-kubernetes awaits).
    preds, implicit = dependency_graph(prod_plan)
    by_urn = prod_plan.by_urn()
    workloads = {r.urn for r in prod_plan.registrations if r.type.startswith("kubernetes:apps/v1:")}
    waits = {}
    for workload in sorted(workloads):
        others = ancestors(preds, preds[workload]) & workloads
        if others:
            waits[by_urn[workload].name] = sorted(by_urn[o].name for o in others)
    awaited = sorted({by_urn[b].name for (_, b), why in implicit.items() if why.startswith("awaited")})
    assert not waits, f"rollouts wait for other rollouts: {waits} (awaited Services: {awaited})"
