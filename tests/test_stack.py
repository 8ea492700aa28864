"""`components.stack.build`: the wiring as a function, with one typed handle per node."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pulumi
import pulumi_command as command
import pulumi_tls as tls
import pytest

from components.anatomy import NodeTarget
from components.config.load import load_from_pulumi
from components.edge.cutover import CutoverArgs, ssl_cutover
from components.edge.origin_pulls import OriginPulls
from components.edge.tls import OriginCertificate
from components.stack import Stack, build
from offline.harness import run_program
from offline.records import Plan

COMMAND = "command:remote:Command"
SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
KEY = "tls:index/privateKey:PrivateKey"
PULLS_SETTINGS = "cloudflare:index/authenticatedOriginPullsSettings:AuthenticatedOriginPullsSettings"


def built(overrides: dict[str, object]) -> tuple[Plan, Stack]:
    stacks: list[Stack] = []

    def program() -> None:
        stack = build(load_from_pulumi())
        assert stack is not None
        stacks.append(stack)

    plan = run_program("prod", overrides, program=program)
    return plan, stacks[0]


@pytest.fixture(scope="module")
def with_agents() -> tuple[Plan, Stack]:
    return built({"agentCount": 2})


def test_one_handle_per_node_pairs_each_node_with_its_own_first_boot(with_agents: tuple[Plan, Stack]) -> None:
    _, stack = with_agents
    assert [h.node.name for h in stack.servers] == ["honeydue-1", "honeydue-2", "honeydue-3"]
    assert [h.node.name for h in stack.agents] == ["honeydue-agent-1", "honeydue-agent-2"]
    # First boot ends with the node's own host key (the re-key step after cloud-init).
    names = {h.node.name: h.cloud_init._name for h in (*stack.servers, *stack.agents)}
    assert names["honeydue-2"] == "honeydue-k3s-2-rekey"
    assert names["honeydue-agent-2"].endswith("agent-2-rekey")


def test_each_firewall_sync_waits_for_its_own_nodes_first_boot(with_agents: tuple[Plan, Stack]) -> None:
    plan, _ = with_agents
    syncs = [r for r in plan.by_type(COMMAND) if r.name.startswith("honeydue-firewall-sync-")]
    assert len(syncs) == 5
    for sync in syncs:
        node = sync.name.removeprefix("honeydue-firewall-sync-")
        own = [r for r in plan.by_type(COMMAND) if r.name == f"honeydue-k3s-{node}-rekey"]
        assert len(own) == 1, node
        assert own[0].urn in sync.dependencies, sync.name
        others = [r.urn for r in plan.by_type(COMMAND) if r.name.endswith(("cloud-init", "rekey")) and r is not own[0]]
        assert not set(others) & set(sync.dependencies), sync.name


def cutover_program(mode: str, *, required: bool = False) -> Callable[[], None]:
    """ssl_cutover with stand-ins for what serves the origin (a key named `served`) and for the two servers the
    gate runs on (each `after` a key named `converged-<n>`); `required`: phase 2 of Authenticated Origin Pulls."""

    def program() -> None:
        local = tls.Provider("tls")
        load_from_pulumi()  # the config checks run first, as in components/stack.py
        from components.providers import make_providers

        cloud = make_providers().options()

        def serve(
            origin: OriginCertificate | None, pulls: OriginPulls | None, after: Sequence[pulumi.Resource]
        ) -> list[pulumi.Resource]:
            assert (origin is None) == (pulls is None)
            # As Traefik does: in phase 2 what requires the client certificate waits until Cloudflare presents it.
            ready = pulls.ready if pulls else []
            opts = pulumi.ResourceOptions(provider=local, depends_on=[*after, *ready])
            served = tls.PrivateKey("served", algorithm="ED25519", opts=opts)
            return [served]

        targets = {
            f"node-{n}": NodeTarget(
                index=n,
                connection=command.remote.ConnectionArgs(host=f"203.0.113.{n}"),
                after=tls.PrivateKey(
                    f"converged-{n}", algorithm="ED25519", opts=pulumi.ResourceOptions(provider=local)
                ),
                server_id=str(n),
            )
            for n in (1, 2)
        }
        ssl_cutover(
            CutoverArgs(
                zone_id="zone",
                ssl_mode=mode,  # type: ignore[arg-type]
                domain="honeydue.app",
                validity_days=5475,
                hostnames=("honeydue.app", "www.honeydue.app"),
                gate_targets=targets,
                origin_pulls_required=required,
            ),
            serve,
            cloud,
        )

    return program


def test_to_flexible_cloudflare_switches_before_the_origin_changes() -> None:
    plan = run_program("prod", program=cutover_program("flexible"))
    ssl = plan.get(SETTING, "honeydue-edge-tls-ssl")
    assert plan.waits_for(plan.get(KEY, "served"), ssl)
    assert not plan.by_type("cloudflare:index/originCaCertificate:OriginCaCertificate")
    assert not plan.by_type(COMMAND)  # no gate: nothing to check over HTTP
    # Origin pulls off, and only after the origin was told to stop requiring a client certificate.
    pulls = plan.get(PULLS_SETTINGS, "honeydue-origin-pulls-settings")
    assert pulls.inputs["enabled"] is False and plan.get(KEY, "served").urn in pulls.dependencies
    # Always the bounded wait between the PATCH and the origin giving up HTTPS, run whenever the setting was written
    # (its modified_on), whatever the stack's outputs say of the last `up` (review: a failed phase-1 `up` leaves
    # originPulls "off" with the zone in strict).
    (local,) = plan.by_type("command:local:Command")
    assert local.name == "honeydue-edge-tls-settle" and ssl.urn in local.dependencies
    assert local.urn in plan.get(KEY, "served").dependencies
    assert local.inputs["triggers"] == [plan.resource_outputs[ssl.urn][1]["modifiedOn"]]


@pytest.mark.parametrize(("mode", "required"), [("full", False), ("strict", False), ("strict", True)])
def test_to_https_the_origin_serves_before_cloudflare_demands_it(mode: str, required: bool) -> None:
    plan = run_program("prod", program=cutover_program(mode, required=required))
    served = plan.get(KEY, "served")
    for setting in plan.by_type(SETTING):
        assert served.urn in setting.dependencies, setting.name
    assert not plan.waits_for(served, plan.get(SETTING, "honeydue-edge-tls-ssl"))
    # Between the two, one gate per server, after what serves and after that server's own K3s.
    gates = {r.name: r for r in plan.by_type(COMMAND)}
    assert sorted(gates) == ["honeydue-origin-gate-1", "honeydue-origin-gate-2"]
    for n, gate in enumerate(sorted(gates.values(), key=lambda g: g.name), start=1):
        assert {served.urn, plan.get(KEY, f"converged-{n}").urn} <= set(gate.dependencies)
        assert plan.get(KEY, f"converged-{3 - n}").urn not in gate.dependencies
        assert (
            gate.inputs["triggers"][1:] == [mode, "required" if required else "optional", str(n), "serving"]
            and gate.inputs["connection"].value["host"] == f"203.0.113.{n}"
        )
        assert all(gate.urn in setting.dependencies for setting in plan.by_type(SETTING))
        assert gate.inputs["stdin"].value.startswith("FAKE-PRIVATE-KEY-honeydue-origin-pulls-probe-key")
    active = plan.get("command:local:Command", "honeydue-origin-pulls-active")
    settings = plan.get(PULLS_SETTINGS, "honeydue-origin-pulls-settings")
    assert settings.inputs["enabled"] is True
    ssl = plan.get(SETTING, "honeydue-edge-tls-ssl")
    if required:
        # Phase 2: Cloudflare presents our client certificate (on, deployed) before the origin requires it.
        assert active.urn in served.dependencies and ssl.urn not in settings.dependencies
    else:
        # Phase 1: the origin requires nothing; origin pulls go on once the zone is in Full or higher.
        assert not plan.waits_for(served, active) and ssl.urn in settings.dependencies
