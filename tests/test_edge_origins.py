"""Where Cloudflare sends requests (issue 25 item 1): each server only while it serves, through proxied records or,
with edgeOrigins loadBalancer, a monitored pool. Mock engine for the program as it is; the engine model
(offline/scenarios.py) for the order of each `up`."""

from __future__ import annotations

import functools

from components.edge.balancer import MONITOR_INTERVAL, monitor_settings, pool_origins
from offline.harness import run_program
from offline.records import Plan
from offline.scenarios import BALANCED, Outcome, run

POOL = "cloudflare:index/loadBalancerPool:LoadBalancerPool"
MONITOR = "cloudflare:index/loadBalancerMonitor:LoadBalancerMonitor"
BALANCER = "cloudflare:index/loadBalancer:LoadBalancer"
RECORD = "cloudflare:index/dnsRecord:DnsRecord"
SERVERS = ("honeydue-1", "honeydue-2", "honeydue-3")


@functools.cache
def balanced() -> Plan:
    return run_program("prod", BALANCED)


@functools.cache
def outcome(name: str) -> Outcome:
    return run(name)


def test_records_mode_registers_no_load_balancing() -> None:
    plan = run_program("prod")
    assert not [r for r in plan.registrations if r.type in (POOL, MONITOR, BALANCER)]


def test_a_proxied_load_balancer_per_public_hostname_over_one_pool() -> None:
    plan = balanced()
    pool = plan.get(POOL, "honeydue-balancer-pool")
    balancers = {r.inputs["name"]: r for r in plan.by_type(BALANCER)}
    assert set(balancers) == {"honeydue.app", "www.honeydue.app", "api.honeydue.app", "admin.honeydue.app"}
    for lb in balancers.values():
        assert lb.inputs["proxied"] is True and lb.inputs["steeringPolicy"] == "off"
        assert lb.inputs["defaultPools"] == [pool.id] and lb.inputs["fallbackPool"] == pool.id
        assert pool.urn in lb.dependencies
    # The records stay (the load balancer takes precedence over records of its name; they answer again if it goes).
    assert len([r for r in plan.by_type(RECORD) if r.inputs["proxied"]]) == 4 * 3 * 2
    assert (
        pool.inputs["accountId"]
        == BALANCED["cloudflareAccountId"]
        == plan.get(MONITOR, "honeydue-balancer-monitor").inputs["accountId"]
    )


def test_the_pool_holds_each_server_by_its_ipv4_after_every_server_serves() -> None:
    plan = balanced()
    pool = plan.get(POOL, "honeydue-balancer-pool")
    # The address each server's apex A record holds: the same origin either way.
    ipv4 = {r.name.removeprefix("honeydue-dns-apex-a-"): r.inputs["content"] for r in plan.by_type(RECORD)}
    assert [(o["name"], o["address"], o["enabled"]) for o in pool.inputs["origins"]] == [
        (name, ipv4[name], True) for name in SERVERS
    ]
    assert len({ipv4[name] for name in SERVERS}) == 3
    serving = {plan.get("command:remote:Command", f"honeydue-serving-{i}").urn for i in (1, 2, 3)}
    assert serving <= set(pool.dependencies)
    monitor = plan.get(MONITOR, "honeydue-balancer-monitor")
    assert pool.inputs["monitor"] == monitor.id and pool.inputs["minimumOrigins"] == 1


def test_the_monitor_asks_what_the_serving_step_asks() -> None:
    monitor = balanced().get(MONITOR, "honeydue-balancer-monitor").inputs
    assert (monitor["type"], monitor["method"], monitor["port"], monitor["path"]) == ("http", "GET", 80, "/")
    assert monitor["header"] == {"Host": ["honeydue.app"]} and monitor["expectedCodes"] == "2xx"
    assert monitor["interval"] == MONITOR_INTERVAL and monitor["followRedirects"] is False
    assert monitor_settings("honeydue.app")["header"] == {"Host": ["honeydue.app"]}


def test_a_released_server_is_not_in_the_pool() -> None:
    assert [o["name"] for o in pool_origins([(s, "192.0.2.1") for s in SERVERS], frozenset({"honeydue-2"}))] == [
        "honeydue-1",
        "honeydue-3",
    ]


def test_switching_to_the_load_balancer_creates_it_and_changes_no_record() -> None:
    diff = outcome("use-load-balancer").diff
    changed = {c.name: c.action for c in diff.changes if c.action != "same"}
    assert changed == dict.fromkeys(
        ["honeydue-balancer", "honeydue-balancer-monitor", "honeydue-balancer-pool"]
        + [f"honeydue-balancer-{label}" for label in ("apex", "www", "api", "admin")],
        "create",
    )


def test_releasing_a_server_takes_it_out_of_the_pool_and_its_records_in_the_same_up() -> None:
    diff = outcome("release-server-2-balanced").diff
    pool = diff.change("honeydue-balancer-pool")
    assert pool.action == "update" and pool.properties == ("origins",)
    records = [c.name for c in diff.changes if c.type == RECORD and c.action != "same"]
    assert len(records) == 9 and all(diff.change(n).action == "delete" for n in records)
    program = outcome("release-server-2-balanced").program
    assert [o["name"] for o in program.get(POOL, "honeydue-balancer-pool").inputs["origins"]] == [
        "honeydue-1",
        "honeydue-3",
    ]


def test_in_strict_a_server_joins_the_pool_after_its_gate_and_a_released_one_has_no_gate_to_pass(
    strict_plan: Plan,
) -> None:
    """Review item 4: in full/strict "serves" includes the Origin CA certificate on 443 (the gate step). A released
    server's gate checks nothing, and its return replaces the step (its triggers), so the check runs again before
    its records and pool endpoint come back."""
    from offline.engine_diff import diff_plans

    plan = run_program("prod", {**BALANCED, "sslMode": "strict", "replaceableNodes": ["honeydue-2"]})
    pool = plan.get(POOL, "honeydue-balancer-pool")
    gates = {i: plan.get("command:remote:Command", f"honeydue-origin-gate-{i}") for i in (1, 2, 3)}
    assert {gates[1].urn, gates[3].urn} <= set(pool.dependencies) and gates[2].urn not in pool.dependencies
    assert all(gates[1].urn in r.dependencies for r in plan.by_type(RECORD) if r.name.endswith("-honeydue-1"))
    released = gates[2]
    assert "released (replaceableNodes)" in released.inputs["create"] and "stdin" not in released.inputs
    assert released.inputs["triggers"][-1] == "released"
    returned = strict_plan.get("command:remote:Command", "honeydue-origin-gate-2")
    assert returned.inputs["triggers"][:-1] == released.inputs["triggers"][:-1]  # the same server, certificate, phase
    assert diff_plans([released], [returned]).change(returned.name).action == "replace"
