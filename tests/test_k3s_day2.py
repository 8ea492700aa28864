"""Day 2 of the K3s servers under the real engine, proven on what the program registers (mock engine).

What the engine then does is cited where it is relied on: pulumi/pulumi pkg/resource/deploy/step_generator.go
(delete_before_replace deletes first every dependent whose own Diff replaces it, walking only property
dependencies; a replacement creates from the program's inputs, not the ignore_changes-held ones) and
pulumi-command provider/pkg/provider/remote/commandController.go (Update runs `update`, else `create`;
only `triggers` replaces; Delete runs the `delete` from state).
"""

from __future__ import annotations

import itertools
from typing import Any

import yaml

from components.k3s.steps import LEAVE_REFUSED, NO_REPLAY
from offline.harness import run_program
from offline.plan import revealed
from offline.records import Plan, Registration

COMMAND = "command:remote:Command"
SERVER = "hcloud:index/server:Server"
FIRST_BOOT = ("cloud-init", "install", "ready")


def command(plan: Plan, name: str) -> Registration:
    return plan.get(COMMAND, name)


def config_yaml(plan: Plan, index: int, step: str = "install") -> dict[str, Any]:
    text = revealed(command(plan, f"honeydue-k3s-{index}-{step}").inputs["create"])
    body = text.split("cat >\"$tmp\" <<'HONEYDUE_EOF'\n", 1)[1].split("\nHONEYDUE_EOF", 1)[0]
    loaded = yaml.safe_load(body)
    assert isinstance(loaded, dict)
    return loaded


def server(plan: Plan, index: int) -> Registration:
    return plan.get(SERVER, f"honeydue-{index}")


# --- item 2: a replaced server re-runs its own steps, and leaves etcd before it is deleted --------------


def test_per_node_steps_are_replaced_with_their_own_server_only(prod_plan: Plan) -> None:
    for index in (1, 2, 3):
        own = server(prod_plan, index)
        steps = [command(prod_plan, f"honeydue-k3s-{index}-{s}") for s in (*FIRST_BOOT, "leave")]
        steps.append(command(prod_plan, f"honeydue-firewall-sync-{index}"))
        for step in steps:
            assert own.id in step.inputs["triggers"], step.name
            # A property dependency (not only dependsOn): the engine makes it unknown when the server is
            # replaced, the Diff says replace, so the step is deleted before the server is.
            assert step.property_dependencies["triggers"] == (own.urn,), step.name
            others = {server(prod_plan, i).id for i in (1, 2, 3) if i != index}
            assert not others & set(step.inputs["triggers"]), step.name


def test_the_old_node_is_drained_before_its_server_is_deleted(prod_plan: Plan) -> None:
    released = run_program("prod", {"replaceableNodes": ["honeydue-2"]})
    for index in (1, 2, 3):
        own, leave = server(released, index), command(released, f"honeydue-k3s-{index}-leave")
        assert own.delete_before_replace
        # Dependents are deleted first: the leave step (drain, delete the Node, K3s drops the etcd member)
        # runs on the old server while it still exists; only a released node's step holds the real script.
        assert released.waits_for(leave, own)
        text = revealed(leave.inputs["delete"])
        assert ("remove.sh [%s]" in text) == (index == 2) and text.startswith(LEAVE_REFUSED) == (index != 2)
        assert revealed(command(prod_plan, f"honeydue-k3s-{index}-leave").inputs["delete"]).startswith(LEAVE_REFUSED)


def test_the_steps_named_before_triggers_stay_inert() -> None:
    """Adding `triggers` to a deployed delete-only step would replace it, which runs its delete on every node."""
    plan = run_program("prod")
    for index in (1, 2, 3):
        legacy = command(plan, f"honeydue-k3s-{index}-remove")
        assert not {"create", "update", "delete", "triggers"} & set(legacy.inputs)
        assert legacy.retain_on_delete and legacy.ignore_changes == ("delete",)


def test_a_server_config_depends_on_its_own_addresses_and_the_api_name_only(prod_plan: Plan) -> None:
    for index in (1, 2, 3):
        own = prod_plan.outputs["nodes"][f"honeydue-{index}"]
        config = config_yaml(prod_plan, index)
        assert config["tls-san"] == [own["ipv4"], own["ipv6"], own["privateIp"], "k8s.honeydue.app"]
        others = [
            a
            for name, node in prod_plan.outputs["nodes"].items()
            if name != f"honeydue-{index}"
            for a in (node["ipv4"], node["ipv6"])
        ]
        assert not [
            a for a in others if a in revealed(command(prod_plan, f"honeydue-k3s-{index}-converge").inputs["create"])
        ]
        # The engine sees it too: no input of a server's steps comes from another server.
        for step in (*FIRST_BOOT, "converge", "leave"):
            reg = command(prod_plan, f"honeydue-k3s-{index}-{step}")
            sources = {u for deps in reg.property_dependencies.values() for u in deps}
            assert not {server(prod_plan, i).urn for i in (1, 2, 3) if i != index} & sources, reg.name


def test_genesis_is_recorded_and_server_1_keeps_cluster_init_while_it_is_the_same_machine(prod_plan: Plan) -> None:
    first = server(prod_plan, 1)
    assert prod_plan.outputs["k3sGenesis"] == first.id
    again = run_program("prod", previous_outputs={"k3sVersion": "v1.34.6+k3s1", "k3sGenesis": first.id})
    assert config_yaml(again, 1)["cluster-init"] is True
    for index in (1, 2, 3):
        for step in ("install", "converge"):
            name = f"honeydue-k3s-{index}-{step}"
            assert command(again, name).inputs["create"] == command(prod_plan, name).inputs["create"], name


def test_a_replaced_server_1_joins_the_survivors_and_never_starts_a_second_etcd() -> None:
    # The recorded genesis is another machine than the one now called honeydue-1: it was replaced.
    plan = run_program("prod", previous_outputs={"k3sVersion": "v1.34.6+k3s1", "k3sGenesis": "4242"})
    configs = {i: config_yaml(plan, i) for i in (1, 2, 3)}
    assert not [i for i, c in configs.items() if "cluster-init" in c]
    assert configs[1]["server"] == "https://10.0.1.3:6443"  # server 2, a survivor
    assert configs[2]["server"] == configs[3]["server"] == "https://10.0.1.2:6443"
    assert plan.outputs["k3sGenesis"] == "4242"  # the cluster's genesis stays recorded


def test_one_server_has_nobody_to_join() -> None:
    plan = run_program("prod", {"serverCount": 1}, previous_outputs={"k3sGenesis": "4242"})
    assert config_yaml(plan, 1)["cluster-init"] is True
    assert plan.outputs["k3sGenesis"] == server(plan, 1).id


# --- item 6: no replay of first-boot text ----------------------------------------------------------------


def test_an_update_of_a_first_boot_step_runs_nothing(prod_plan: Plan) -> None:
    for index in (1, 2, 3):
        for step in FIRST_BOOT:
            reg = command(prod_plan, f"honeydue-k3s-{index}-{step}")
            # Update runs `update` when set: never the held `create` (old release, old config.yaml).
            assert reg.inputs["update"] == NO_REPLAY
            # The cloud-init wait is pinned to the bootstrap host key, which the re-key step retires: it
            # holds every input but `triggers`, so it is never updated at all (components/k3s/host_key.py).
            assert ("update" in reg.ignore_changes) == (step == "cloud-init"), reg.name
    assert "k3s" not in NO_REPLAY.split("'")[0]  # an echo, nothing else


# --- item 7: the version gate ---------------------------------------------------------------------------


def _output_sources(overrides: dict[str, Any]) -> list[str]:
    """Names of the resources the exported k3sVersion waits for."""
    names: list[str] = []

    def program() -> None:
        import pulumi

        from components.config.load import load_from_pulumi
        from components.stack import build

        stack = build(load_from_pulumi())

        async def sources() -> list[str]:
            return sorted(r._name for r in await stack.cluster.k3s_version.resources())

        pulumi.export("sources", pulumi.Output.from_input(sources()))

    plan = run_program("prod", overrides, program=program)
    names.extend(plan.outputs["sources"])
    return names


def test_k3s_version_is_known_only_after_the_last_converge_step() -> None:
    assert "honeydue-k3s-3-converge" in _output_sources({})
    assert "honeydue-k3s-agent-2-settle" in _output_sources({"agentCount": 2})


# --- item 9: secret output is not streamed ----------------------------------------------------------------


def test_install_and_converge_are_not_streamed(prod_plan: Plan) -> None:
    for index in (1, 2, 3):
        for step in ("install", "converge"):
            assert command(prod_plan, f"honeydue-k3s-{index}-{step}").inputs["logging"] == "none"


# --- item 12: ordered scale-in ------------------------------------------------------------------------------


def test_scale_in_removes_etcd_members_one_at_a_time_last_first() -> None:
    plan = run_program("prod", {"serverCount": 5})
    leaves = [command(plan, f"honeydue-k3s-{i}-leave") for i in range(1, 6)]
    for earlier, later in itertools.pairwise(leaves):
        # Deletes run in reverse dependency order: leave 5, then 4 (a 5 -> 3 scale-in), never together.
        assert earlier.urn in later.dependencies


def test_a_servers_dns_records_go_before_its_drain(prod_plan: Plan) -> None:
    records = prod_plan.by_type("cloudflare:index/dnsRecord:DnsRecord")
    for index in (1, 2, 3):
        leave = command(prod_plan, f"honeydue-k3s-{index}-leave")
        own = [r for r in records if r.name.endswith(f"-honeydue-{index}") or r.name.endswith(f"-k8s-a-{index}")]
        assert len(own) == 4 * 2 + 1  # 4 hostnames x A/AAAA, and the API name's A record
        for record in own:
            assert leave.urn in record.dependencies, record.name
        for other in (i for i in (1, 2, 3) if i != index):
            assert command(prod_plan, f"honeydue-k3s-{other}-leave").urn not in {d for r in own for d in r.dependencies}


# --- replacing one server, evaluated twice ------------------------------------------------------------------


def _effective_inputs(plan: Plan) -> dict[str, Any]:
    """What the engine diffs per resource name: inputs minus the ignored ones."""
    return {r.name: {k: v for k, v in r.inputs.items() if k not in r.ignore_changes} for r in plan.registrations}


def _with_new_server(monkeypatch: Any, name: str, before: Plan) -> Plan:
    """The program after `name` was replaced (a new Hetzner id and new public addresses), `before` deployed."""
    from offline import harness

    original = harness.PlanMocks.new_resource

    def new_resource(self: harness.PlanMocks, args: Any) -> tuple[str | None, dict[str, Any]]:
        resource_id, state = original(self, args)
        if args.typ == SERVER and args.name == name:
            return "9999999", {**state, "ipv4Address": "203.0.113.250", "ipv6Address": "2001:db8:fa::1"}
        return resource_id, state

    monkeypatch.setattr(harness.PlanMocks, "new_resource", new_resource)
    return run_program(
        "prod", previous_outputs={"k3sVersion": "v1.34.6+k3s1", "k3sGenesis": before.outputs["k3sGenesis"]}
    )


def test_replacing_server_2_changes_only_server_2s_own_resources(monkeypatch: Any) -> None:
    before = run_program("prod", previous_outputs={"k3sVersion": "v1.34.6+k3s1"})
    after = _with_new_server(monkeypatch, "honeydue-2", before)
    old, new = _effective_inputs(before), _effective_inputs(after)
    changed = sorted(n for n in old if old[n] != new[n])
    steps = [f"honeydue-k3s-2-{s}" for s in (*FIRST_BOOT, "rekey", "converge", "leave")]
    records = [n for n in old if n.startswith("honeydue-dns-") and (n.endswith("-honeydue-2") or n.endswith("-a-2"))]
    # The inert predecessor of the leave step gets the new connection: an update that runs nothing (no
    # `create`, no `update`: commandController.go, Update).
    per_node = ["honeydue-firewall-sync-2", "honeydue-node-upgrades-2", "honeydue-serving-2"]
    assert changed == sorted([*steps, *per_node, "honeydue-k3s-2-remove", *records])
    assert not {"create", "update"} & set(new["honeydue-k3s-2-remove"])
    # The first-boot steps, the leave step and the firewall sync are replaced (their triggers changed) and
    # so run again on the new server; the converge step is updated in place (its text: the new addresses).
    for name in [*steps, *per_node]:
        if not name.endswith("-converge"):
            assert old[name]["triggers"] != new[name]["triggers"], name
    assert after.outputs["k3sGenesis"] == before.outputs["k3sGenesis"]
    assert "cluster-init" not in config_yaml(after, 2)


def test_replacing_server_1_joins_server_2_and_touches_no_other_server(monkeypatch: Any) -> None:
    before = run_program("prod", previous_outputs={"k3sVersion": "v1.34.6+k3s1"})
    after = _with_new_server(monkeypatch, "honeydue-1", before)
    old, new = _effective_inputs(before), _effective_inputs(after)
    changed = {n for n in old if old[n] != new[n]}
    assert not [n for n in changed if n.startswith(("honeydue-k3s-2-", "honeydue-k3s-3-"))]
    # The kubeconfig is fetched again from the new server 1 (a new connection: an update re-runs it).
    assert "honeydue-k3s-kubeconfig" in changed
    first = config_yaml(after, 1)
    assert "cluster-init" not in first and first["server"] == "https://10.0.1.3:6443"
    assert after.outputs["k3sGenesis"] == before.outputs["k3sGenesis"] != "9999999"
