"""Day-2 scenarios of issue 11 against the real program: what the real engine does from state A to B.

Each test states the production behaviour issue 11 asks for, as the engine-diff model
(offline/engine_diff.py) derives it from the registrations. Each scenario was first written as a strict
xfail naming the issue 11 item the program still lacked; every one flipped when its fix landed.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import subprocess

import pytest

from components.edge.tls import SETTLE_SECONDS
from components.k3s.steps import LEAVE_REFUSED
from offline.engine_diff import command_effect, diff_plans
from offline.engine_model import EngineDiff
from offline.records import SecretValue
from offline.replace_rules import rule_for
from offline.scenario_report import render
from offline.scenarios import NEW_DATABASE_URL, SCENARIOS, Outcome, evaluate, refreshed_state, run, steady_state
from offline.side_effects import update_refusal

COMMAND = "command:remote:Command"
NODE_STEPS = ("cloud-init", "install", "ready", "leave")


@functools.cache
def outcome(name: str) -> Outcome:
    return run(name)


RECORD = "cloudflare:index/dnsRecord:DnsRecord"
SETTING = "cloudflare:index/zoneSetting:ZoneSetting"


def touched(diff: EngineDiff) -> dict[str, str]:
    """Name -> action of every resource that is not the same."""
    return {c.name: c.action for c in diff.changes if c.action != "same"}


def steps(diff: EngineDiff) -> list[tuple[str, str]]:
    names = {c.urn: c.name for c in diff.changes}
    return [(s.op, names[s.urn]) for s in diff.steps]


def of_node(name: str, index: int) -> bool:
    """Whether a resource belongs to server `index` (its server, host key, steps, DNS records, firewall sync)."""
    return re.search(rf"(^|-){index}($|-)", name) is not None


def test_the_scenarios_of_issue_11_are_all_there() -> None:
    assert set(SCENARIOS) >= {
        "no-change", "replace-server-1", "replace-server-2", "rotate-database-url", "bump-k3s-version",
        "new-kubeconfig-ca", "ssl-flexible-to-strict", "ssl-strict-to-flexible", "cloudflare-etag", "agents-2-to-0",
        "servers-5-to-3",
    }  # fmt: skip


def test_a_second_evaluation_with_no_change_is_only_same() -> None:
    diff = outcome("no-change").diff
    assert {c.action for c in diff.changes} == {"same"} and diff.steps == ()
    assert len(diff.changes) == len(outcome("no-change").program.registrations)


# One evaluation per configuration that registers types of its own (agents, strict SSL's certificate objects,
# five servers); an evaluation with a type without a rule fails in diff_plans anyway (rule_for), adoption's
# included (tests/test_adoption.py).
TYPE_COVERAGE: tuple[dict[str, object], ...] = ({}, {"agentCount": 2}, {"sslMode": "strict"}, {"serverCount": 5})


def test_every_resource_type_of_every_scenario_has_a_replace_rule() -> None:
    from offline.harness import run_program

    types = {r.type for config in TYPE_COVERAGE for r in run_program("prod", config).registrations if r.custom}
    for type_ in sorted(types):
        rule = rule_for(type_)
        assert rule.source.startswith("https://github.com/") or "not verified" in rule.note, type_


def test_a_report_is_deterministic_and_shows_no_secret() -> None:
    first = render(outcome("rotate-database-url"))
    again = render(evaluate(SCENARIOS["rotate-database-url"]()))
    assert first == again
    secrets = [*outcome("rotate-database-url").program.known_secrets, NEW_DATABASE_URL, "ROTATED"]
    assert not [s for s in secrets if s in first]


def _replaced_server(index: int) -> EngineDiff:
    diff = outcome(f"replace-server-{index}").diff
    server = diff.change(f"honeydue-{index}")
    assert server.action == "replace" and server.delete_before_replace and not server.blocked, server
    for step in NODE_STEPS:  # a new server re-runs its first boot, install, Ready wait and removal
        change = diff.change(f"honeydue-k3s-{index}-{step}")
        assert change.action == "replace" and any("triggers" in r for r in change.reasons), change
    order = steps(diff)
    # The old node is drained and leaves etcd (the leave step's delete) before its server is deleted.
    assert order.index(("delete-replaced", f"honeydue-k3s-{index}-leave")) < order.index(
        ("delete-replaced", f"honeydue-{index}")
    )
    assert not diff.blocked()
    assert not [c.name for c in diff.changes if c.type.startswith("kubernetes:") and c.action != "same"]
    assert diff.change("honeydue-k3s-k8s").action in ("same", "update")
    return diff


def test_replacing_server_2_touches_only_node_2() -> None:
    diff = _replaced_server(2)
    assert not [name for name in touched(diff) if not of_node(name, 2)]


def test_replacing_server_1_joins_the_survivors_and_touches_only_node_1() -> None:
    diff = _replaced_server(1)
    # Fetching the kubeconfig and waiting for Traefik's CRDs run on server 1: they may re-run (an update: the new
    # connection), but must not replace anything downstream.
    others = {n: a for n, a in touched(diff).items() if not of_node(n, 1)}
    allowed = {"honeydue-k3s-kubeconfig", "honeydue-k3s-k8s", "honeydue-k3s-traefik-crds"}
    assert set(others) <= allowed and "replace" not in others.values()
    install = outcome("replace-server-1").program.get("command:remote:Command", "honeydue-k3s-1-install")
    text = install.inputs["create"]
    text = text.value if isinstance(text, SecretValue) else text
    assert "cluster-init: true" not in text  # a second etcd would start: the replacement must join


def _drains(diff: EngineDiff) -> list[str]:
    """Leave/wipe steps whose delete script would run: the node would be drained, leave etcd, uninstall."""
    return [
        c.name
        for c in diff.changes
        if c.name.endswith(("-leave", "-wipe")) and c.action in ("delete", "replace") and not c.blocked
    ]


def test_a_protected_server_is_never_drained_for_a_replacement_that_would_fail() -> None:
    # Issue 19 item 3, both orders. Not released: the engine refuses the replacement outright (protected in
    # state and program). Released in the same `up`: Pulumi's protect is lifted in the program, but the state
    # still holds the refusing leave script and Hetzner's lock: the leave fails first and nothing is drained.
    for name, leave in (
        ("replace-server-2-unreleased", "never runs: the replacement of honeydue-2 is refused"),
        ("replace-server-2-released-same-up", "exits 1"),
    ):
        diff = outcome(name).diff
        assert diff.change("honeydue-2").blocked and not _drains(diff), name
        assert leave in diff.change("honeydue-k3s-2-leave").blocked, name
    assert "protected in state and program" in outcome("replace-server-2-unreleased").diff.change("honeydue-2").blocked


def test_releasing_a_server_lifts_both_protections_and_arms_its_leave_step_running_nothing() -> None:
    item = outcome("release-server-2")
    records = {r.name for r in item.state if r.type == RECORD and of_node(r.name, 2)}
    # Issue 25 item 1: its DNS records (8 proxied, the API name's) are withdrawn by this `up`, before any later one
    # stops the server; every other record stays.
    assert len(records) == 9
    assert touched(item.diff) == {
        "honeydue-2": "update",
        "honeydue-k3s-2-leave": "update",
        # Its serving step becomes the released one (no check): leaving the list replaces it with a fresh check.
        "honeydue-serving-2": "replace",
        **dict.fromkeys(records, "delete"),
    }
    server = item.program.get("hcloud:index/server:Server", "honeydue-2")
    assert (
        not server.protect
        and server.inputs["deleteProtection"] is False
        and server.inputs["rebuildProtection"] is False
    )
    leave = item.program.get("command:remote:Command", "honeydue-k3s-2-leave")
    assert not str(leave.inputs["delete"]).startswith(LEAVE_REFUSED)
    assert item.diff.change("honeydue-k3s-2-leave").properties == ("delete",)
    others = [r for r in item.program.by_type("hcloud:index/server:Server") if r.name != "honeydue-2"]
    assert others and all(r.protect and r.inputs["deleteProtection"] is True for r in others)


def test_the_refusing_leave_script_exits_1_before_doing_anything() -> None:
    # What a protected node's leave step runs, run for real: bash exits 1 with the reason on stderr.
    leave = outcome("no-change").program.get("command:remote:Command", "honeydue-k3s-2-leave")
    script = str(leave.inputs["delete"])
    assert script.startswith(LEAVE_REFUSED) and script.count("\n") == 3
    done = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10, check=False)
    assert done.returncode == 1 and "replaceableNodes" in done.stderr and done.stdout == ""


def test_an_unreleased_scale_in_drains_nothing_and_deletes_no_server() -> None:
    # Agents take the same leave steps (steps.leave_step): `make scenario NAME=agents-2-to-0-unreleased`.
    diff = outcome("servers-5-to-3-unreleased").diff
    assert not _drains(diff)
    assert all(diff.change(s).blocked for s in ("honeydue-4", "honeydue-5"))
    assert "its delete fails" in diff.change("honeydue-k3s-5-leave").blocked
    assert "never runs" in diff.change("honeydue-k3s-4-leave").blocked  # a later round, cancelled


def test_no_record_points_at_a_server_while_it_is_replaced() -> None:
    # Issue 25 item 1: released by an earlier `up`, the server has no records, so the replacement (old server
    # drained and deleted, new one joining) changes none; its serving step is replaced, after its Ready wait.
    for name in ("replace-server-2", "replace-server-2-preview"):
        item = outcome(name)
        assert item.diff.change("honeydue-2").action == "replace"
        assert not [r.name for r in item.state if r.type == RECORD and of_node(r.name, 2)]
        assert not [c.name for c in item.diff.changes if c.type == RECORD and c.action != "same"]
        assert item.diff.change("honeydue-serving-2").action == "replace"
        serving = item.program.get("command:remote:Command", "honeydue-serving-2")
        ready = item.program.get("command:remote:Command", "honeydue-k3s-2-ready")
        assert ready.urn in serving.dependencies


def test_a_server_s_records_come_back_only_after_it_serves() -> None:
    item = outcome("return-server-2")
    records = {c.name for c in item.diff.changes if c.type == RECORD and c.action != "same"}
    assert len(records) == 9 and all(item.diff.change(n).action == "create" for n in records)
    assert all(of_node(n, 2) for n in records)
    serving = item.program.get("command:remote:Command", "honeydue-serving-2")
    # Leaving replaceableNodes replaces the step, so the node is checked afresh before its records return.
    assert item.diff.change("honeydue-serving-2").action == "replace"
    assert "wait-serving.sh" in str(serving.inputs["create"])
    released = next(r for r in item.state if r.name == "honeydue-serving-2")
    assert "wait-serving.sh" not in str(released.inputs["create"])
    for record in (item.program.get(RECORD, n) for n in records):
        # The proxied ones after the server serves; the API name's (DNS-only) once the server exists.
        assert (serving.urn in record.dependencies) == record.inputs["proxied"], record.name


def _reads(template: object, name: str) -> bool:
    return f'"name": "{name}"' in json.dumps(template, default=str)


def test_rotating_database_url_updates_the_secret_and_rolls_its_readers() -> None:
    diff = outcome("rotate-database-url").diff
    program = outcome("rotate-database-url").program
    readers = {
        d.name
        for d in program.by_type("kubernetes:apps/v1:Deployment") + program.by_type("kubernetes:apps/v1:StatefulSet")
        if _reads(d.inputs["spec"]["template"], "honeydue-app")
    }
    assert readers  # api, worker and admin read it through envFrom
    assert touched(diff) == {"honeydue-secret-honeydue-app": "update", **dict.fromkeys(readers, "update")}
    for name in readers:
        assert all(p.startswith("spec.template.metadata.annotations") for p in diff.change(name).properties)


@pytest.mark.parametrize("name", ["bump-k3s-version", "switch-kube-proxy-mode"])
def test_a_k3s_bump_or_proxy_switch_re_runs_converge_one_server_at_a_time_and_nothing_else(name: str) -> None:
    # The runbook's "Upgrade K3s": the proxy mode's switch restarts k3s on server 1, 2, 3 in turn (converge),
    # nothing else; the release follows in its own `up`, the same way.
    diff = outcome(name).diff
    converges = [f"honeydue-k3s-{i}-converge" for i in (1, 2, 3)]
    assert touched(diff) == dict.fromkeys(converges, "update")
    assert diff.forced_before(converges[0], converges[1]) and diff.forced_before(converges[1], converges[2])


def test_a_new_kubeconfig_ca_alone_changes_nothing_and_the_up_fails_tls() -> None:
    # The kubeconfig step's inputs are the same: it keeps its old stdout (old CA) and runs nothing, so the
    # provider dials the cluster with the old CA (issue 19 item 4; pulumi/pulumi step_generator.go same step).
    item = outcome("new-kubeconfig-ca")
    assert touched(item.diff) == {}
    assert len(item.failures) == 1 and "fails TLS" in item.failures[0]
    assert "FAILS: honeydue-k3s-k8s" in render(item)


def test_after_a_ca_rotation_replacing_the_kubeconfig_step_brings_the_new_ca_to_the_provider() -> None:
    # The runbook's path: --replace runs the step's create again; the provider is updated, nothing replaced.
    item = outcome("new-kubeconfig-ca-refetch")
    assert touched(item.diff) == {"honeydue-k3s-kubeconfig": "replace", "honeydue-k3s-k8s": "update"}
    assert not item.failures


def test_flexible_to_strict_serves_the_origin_certificate_before_cloudflare_demands_it() -> None:
    diff = outcome("ssl-flexible-to-strict").diff
    changes = touched(diff)
    # Only flexible's wait after the PATCH goes, and its delete runs nothing (a create-only local command).
    assert "replace" not in changes.values()
    assert [n for n, a in changes.items() if a == "delete"] == ["honeydue-edge-tls-settle"]
    held = {r.name: r for r in outcome("ssl-flexible-to-strict").state}
    assert "delete" not in held["honeydue-edge-tls-settle"].inputs
    assert changes["honeydue-edge-tls-ssl"] == "update"
    serving = [n for n, a in changes.items() if a == "create" and n.endswith("origin-tls")]
    serving += ["kube-system-helmchartconfig-traefik", "honeydue-ingress-honeydue-tls"]
    assert len(serving) == 4 and all(diff.forced_before(n, "honeydue-edge-tls-ssl") for n in serving)
    # Issue 25 item 3: between the two, a check on every server that the certificate is really served.
    gates = [f"honeydue-origin-gate-{i}" for i in (1, 2, 3)]
    assert all(changes[g] == "create" for g in gates)
    assert all(diff.forced_before(n, g) for n in serving for g in gates)
    assert all(diff.forced_before(g, "honeydue-edge-tls-ssl") for g in gates)
    program = outcome("ssl-flexible-to-strict").program
    assert all(command_effect(diff.change(g), None, program.get(COMMAND, g)) == "runs create" for g in gates)
    order = steps(diff)
    assert max(order.index(("create", g)) for g in gates) < order.index(("update", "honeydue-edge-tls-ssl"))


def test_to_strict_origin_pulls_go_on_after_the_switch_and_nothing_requires_them_yet() -> None:
    """Issue 25 item 2, phase 1: Traefik asks for a certificate and verifies none (the CA Secret first), the gates
    (which present the probe) and the switch; then, the zone in Full or higher as Cloudflare asks, origin pulls on
    and the wait for the upload's deployment. Nothing on the origin waits for Cloudflare's side."""
    diff = outcome("ssl-flexible-to-strict").diff
    changes = touched(diff)
    cloudflare_side = [
        "honeydue-origin-pulls-certificate",
        "honeydue-origin-pulls-settings",
        "honeydue-origin-pulls-active",
    ]
    assert [changes[n] for n in cloudflare_side] == ["create", "update", "create"]
    assert diff.forced_before(cloudflare_side[0], cloudflare_side[1])
    assert diff.forced_before(cloudflare_side[1], cloudflare_side[2])
    assert diff.forced_before("honeydue-edge-tls-ssl", "honeydue-origin-pulls-settings")
    traefik_side = ["kube-system-secret-honeydue-origin-pull-ca", "kube-system-helmchartconfig-traefik"]
    assert diff.forced_before(*traefik_side)
    assert not any(diff.forced_before(n, traefik_side[1]) for n in cloudflare_side[1:])
    assert all(diff.forced_before(traefik_side[1], f"honeydue-origin-gate-{i}") for i in (1, 2, 3))
    values = outcome("ssl-flexible-to-strict").program.get(
        "kubernetes:helm.cattle.io/v1:HelmChartConfig", "kube-system-helmchartconfig-traefik"
    )
    assert "clientAuthType: 'RequestClientCert'" in values.inputs["spec"]["valuesContent"]


def test_phase_2_requires_the_certificate_once_deployed_then_checks_every_server() -> None:
    """originPullsRequired after phase 1: only Traefik's TLSOption changes, after the (unchanged) wait for the
    deployed upload, and the gates run again, now also refusing a client without a certificate."""
    item = outcome("origin-pulls-required")
    diff = item.diff
    gates = [f"honeydue-origin-gate-{i}" for i in (1, 2, 3)]
    # The wait for the deployed upload runs again (its triggers hold the phase, review item 3): phase 2 requires
    # the certificate on what Cloudflare reports now, not on a phase-1 run that may be long past.
    assert touched(diff) == {
        "kube-system-helmchartconfig-traefik": "update",
        "honeydue-origin-pulls-active": "replace",
        **dict.fromkeys(gates, "replace"),
    }
    assert diff.forced_before("honeydue-origin-pulls-active", "kube-system-helmchartconfig-traefik")
    assert all(diff.forced_before("kube-system-helmchartconfig-traefik", g) for g in gates)
    # The setting no longer waits for the ssl switch, which waits for the gates, which wait for Traefik.
    assert not diff.forced_before("honeydue-edge-tls-ssl", "honeydue-origin-pulls-settings")
    chart = item.program.get("kubernetes:helm.cattle.io/v1:HelmChartConfig", "kube-system-helmchartconfig-traefik")
    assert "clientAuthType: 'RequireAndVerifyClientCert'" in chart.inputs["spec"]["valuesContent"]
    for gate in gates:
        assert "CLIENT_AUTH=required" in str(item.program.get(COMMAND, gate).inputs["create"])
        assert command_effect(diff.change(gate), None, item.program.get(COMMAND, gate)) == "runs create"
    assert item.program.outputs["originPulls"] == "required"


def test_to_flexible_traefik_stops_asking_before_cloudflare_stops_presenting() -> None:
    diff = outcome("ssl-strict-to-flexible").diff
    changes = touched(diff)
    assert changes["honeydue-origin-pulls-settings"] == "update"  # off: the provider's delete would leave it on
    # Review item 3: a bounded wait after the PATCH, before the origin gives up HTTPS (edge/tls.py SETTLE_SECONDS),
    # on the machine running `up`; created (and so run) whenever the setting is written in flexible (its modified_on).
    assert changes["honeydue-edge-tls-settle"] == "create"
    settle = outcome("ssl-strict-to-flexible").program.get("command:local:Command", "honeydue-edge-tls-settle")
    assert settle.inputs["create"] == f"sleep {SETTLE_SECONDS}" and SETTLE_SECONDS == 60
    assert diff.forced_before("honeydue-edge-tls-ssl", "honeydue-edge-tls-settle")
    assert diff.forced_before("honeydue-edge-tls-settle", "kube-system-helmchartconfig-traefik")
    assert diff.forced_before("kube-system-helmchartconfig-traefik", "honeydue-origin-pulls-settings")
    order = steps(diff)
    settings_off = order.index(("update", "honeydue-origin-pulls-settings"))
    assert order.index(("update", "kube-system-helmchartconfig-traefik")) < settings_off
    # The upload goes after the setting is off, and only after the CA Secret Traefik read.
    upload = order.index(("delete", "honeydue-origin-pulls-certificate"))
    assert settings_off < upload and order.index(("delete", "kube-system-secret-honeydue-origin-pull-ca")) < upload


def test_strict_to_flexible_lets_cloudflare_go_to_http_before_the_origin_stops_serving_https() -> None:
    diff = outcome("ssl-strict-to-flexible").diff
    changes = touched(diff)
    assert "replace" not in changes.values() and changes["honeydue-edge-tls-ssl"] == "update"
    after = [n for n, a in changes.items() if a == "delete"] + ["kube-system-helmchartconfig-traefik"]
    assert "honeydue-origin-cert" in after and all(diff.forced_before("honeydue-edge-tls-ssl", n) for n in after)
    assert all(diff.forced_before("honeydue-edge-tls-settle", n) for n in after)
    # No gate in that direction: its steps are only deleted, which runs nothing on the nodes.
    gates = [f"honeydue-origin-gate-{i}" for i in (1, 2, 3)]
    assert {n for n in after if "origin-gate" in n} == {"honeydue-origin-gate", *gates}
    held = {r.name: r for r in outcome("ssl-strict-to-flexible").state}
    assert all(command_effect(diff.change(g), held[g], None) == "nothing runs" for g in gates)


def test_a_refresh_in_strict_mode_replaces_no_certificate() -> None:
    """Issue 25 item 4: the provider's Read writes the API's order of `hostnames` (sorted) into the state and the
    field forces replacement; the program sends that order, so a refresh then an `up` changes nothing. The
    control: the order the program sent before (the domain first) against the same refreshed state."""
    result = outcome("refresh-strict")
    assert touched(result.diff) == {}
    (cert,) = [r for r in result.program.registrations if r.name == "honeydue-origin-cert"]
    (held,) = [r for r in result.state if r.name == "honeydue-origin-cert"]
    assert held.inputs["hostnames"] == sorted(cert.inputs["hostnames"])  # what a refresh leaves
    old_order = dataclasses.replace(cert, inputs={**cert.inputs, "hostnames": sorted(cert.inputs["hostnames"])[::-1]})
    assert diff_plans([held], [old_order]).change(cert.name).action == "replace"


def test_a_refresh_of_a_zone_that_had_0rtt_on_shows_no_tls_1_3_drift() -> None:
    """Issue 25 item 6: with 0-RTT on, the API reads tls_1_3 back as "zrt" (offline.side_effects.zone_setting_read).
    The program pins 0rtt off, so a refresh leaves the "on" it sends. The control: the program before the pin
    (no 0rtt setting) on the same zone reads "zrt" and updates tls_1_3 on every `up --refresh`."""
    result = outcome("refresh-zero-rtt")
    assert touched(result.diff) == {}
    held = {r.inputs["settingId"]: r.inputs["value"] for r in result.state if r.type == SETTING}
    assert held["0rtt"] == "off" and held["tls_1_3"] == "on"
    (tls_1_3,) = [r for r in result.program.registrations if r.name == "honeydue-edge-tls-tls-1-3"]
    before = {r.urn: r for r in steady_state("prod", {}).registrations}[tls_1_3.urn]
    (unpinned,) = refreshed_state([before], {"0rtt": "on"})
    assert unpinned.inputs["value"] == "zrt"
    assert diff_plans([unpinned], [tls_1_3]).change(tls_1_3.name).properties == ("value",)


def test_a_new_cloudflare_etag_re_runs_the_firewall_sync_on_every_node_and_nothing_else() -> None:
    diff = outcome("cloudflare-etag").diff
    syncs = [f"honeydue-firewall-sync-{i}" for i in (1, 2, 3)]
    assert touched(diff) == dict.fromkeys(syncs, "replace")
    assert all(any("triggers" in r for r in diff.change(s).reasons) for s in syncs)


def test_scaling_agents_in_drains_each_agent_before_deleting_its_server() -> None:
    diff = outcome("agents-2-to-0").diff
    changes = touched(diff)
    agents = {r.name for r in outcome("agents-2-to-0").state if "agent" in r.name}
    assert len(agents) > 10 and changes == dict.fromkeys(agents, "delete")
    assert not diff.blocked()  # released by an earlier `up` (replaceableNodes)
    for i in (1, 2):
        for step in ("drain", "leave"):
            assert diff.forced_before(f"honeydue-k3s-agent-{i}-{step}", f"honeydue-agent-{i}")


def test_scaling_servers_in_removes_one_etcd_member_at_a_time_after_its_dns() -> None:
    diff = outcome("servers-5-to-3").diff
    changes = touched(diff)
    leaving = {r.name for r in outcome("servers-5-to-3").state if of_node(r.name, 4) or of_node(r.name, 5)}
    assert changes == dict.fromkeys(leaving, "delete") and not diff.blocked()
    removes = ("honeydue-k3s-5-leave", "honeydue-k3s-4-leave")
    assert diff.forced_before(*removes) or diff.forced_before(*reversed(removes))
    # Released by an earlier `up` (replaceableNodes), the leaving servers' records were withdrawn then.
    assert not [n for n in leaving if n.startswith("honeydue-dns-")]
    # Unreleased, their records would still go first (dependents before the leave step), but the leave refuses.
    unreleased = outcome("servers-5-to-3-unreleased")
    for index in (4, 5):
        records = [r.name for r in unreleased.state if r.type == RECORD and of_node(r.name, index)]
        assert len(records) == 9
        assert all(unreleased.diff.forced_before(n, f"honeydue-k3s-{index}-leave") for n in records)


def _powers_off(diff: EngineDiff) -> list[str]:
    return [f"{c.name}: {c.effects}" for c in diff.changes if c.stops_service]


def test_the_adoption_up_imports_every_server_without_an_update_that_stops_it() -> None:
    # Issue 19 item 1: the import is followed by a diff against what the provider's Read wrote (no public_net,
    # no network): held for good, no server is updated after its import, and nothing powers a server off.
    item = outcome("adopt")
    assert not _powers_off(item.diff) and not item.diff.blocked()
    imports = {c.name: c for c in item.diff.changes if c.action == "import"}
    assert {f"honeydue-{i}" for i in (1, 2, 3)} <= set(imports)
    assert not [c.name for c in imports.values() if c.properties], "an import followed by an update"


def test_the_model_sees_the_power_cycle_of_an_import_whose_public_nets_are_not_held() -> None:
    # The model's teeth: the same adoption with publicNets/networks/backups not held shows what upstream does.
    item = outcome("adopt")
    loose = [
        dataclasses.replace(
            r, ignore_changes=tuple(i for i in r.ignore_changes if i not in ("publicNets", "networks", "backups"))
        )
        for r in item.program.registrations
    ]
    from offline.adoption_world import live_of
    from offline.engine_diff import diff_plans

    diff = diff_plans(item.state, loose, live=live_of(item.program))
    server = diff.change("honeydue-1")
    assert server.action == "import" and {"publicNets", "networks", "backups"} <= set(server.properties)
    assert server.stops_service and any("power-off" in e for e in server.effects)
    assert any("deletes every existing backup" in e for e in server.effects)


def test_the_first_up_after_adoption_updates_only_held_fields_and_stops_no_node() -> None:
    item = outcome("adopt-ends")
    changes = touched(item.diff)
    assert not _powers_off(item.diff) and "replace" not in changes.values()
    assert sorted(n for n, a in changes.items() if a == "delete") == [f"honeydue-k3s-{i}-adopt" for i in (1, 2, 3)]
    for name in (f"honeydue-{i}" for i in (1, 2, 3)):
        held = {p.split(".")[0] for p in item.diff.change(name).properties}
        assert held == {"labels", "deleteProtection", "rebuildProtection", "firewallIds"}, held


def test_ending_adoption_patches_each_zone_setting_with_its_value_and_never_an_empty_body() -> None:
    """Issue 25 item 6, pulumi-cloudflare#1319: an Update of a ZoneSetting PATCHes only the fields that changed, so
    one without a value change sends {} and fails with 1007 (offline.side_effects.update_refusal). Ending adoption
    lifts ignoreChanges, protect and the import id: settings the zone holds otherwise are updated with their value,
    one it already holds (min_tls_version) changes only options, a same step that calls no Update."""
    item = outcome("adopt-ends")
    settings = {c.name: c for c in item.diff.changes if c.type == SETTING}
    updated = {name: c.properties for name, c in settings.items() if c.action == "update"}
    held = ("0rtt", "always-use-https", "ssl-automatic-mode", "tls-1-3")
    assert updated == {f"honeydue-edge-tls-{s}": ("value",) for s in held}
    assert settings["honeydue-edge-tls-min-tls-version"].action == settings["honeydue-edge-tls-ssl"].action == "same"
    assert not [c.name for c in settings.values() if c.blocked]
    # 0-RTT goes off before tls_1_3 is written, so the next refresh reads the "on" it sends.
    assert item.diff.forced_before("honeydue-edge-tls-0rtt", "honeydue-edge-tls-tls-1-3")


def test_the_model_fails_a_zone_setting_update_that_patches_nothing() -> None:
    assert "1007" in update_refusal(SETTING, ()) and "1007" in update_refusal(SETTING, ("zoneId (unknown)",))
    assert update_refusal(SETTING, ("value",)) == update_refusal(SETTING, ("enabled",)) == ""
    assert update_refusal(RECORD, ()) == ""


def test_a_storage_class_edit_is_a_replacement_not_an_update_the_api_server_rejects() -> None:
    # Issue 19 items 5 and 8: the API server refuses a new reclaimPolicy (422) and pulumi-kubernetes would send
    # it as an update; the program's replaceOnChanges makes it a replacement, delete-first (same name).
    from offline.engine_diff import diff_plans

    state = outcome("no-change").program
    sc = next(r for r in state.by_type("kubernetes:storage.k8s.io/v1:StorageClass"))
    edited = dataclasses.replace(sc, inputs={**sc.inputs, "reclaimPolicy": "Delete"})
    change = diff_plans([sc], [edited]).change(sc.name)
    assert change.action == "replace" and change.delete_before_replace and not change.blocked
    bare = dataclasses.replace(edited, replace_on_changes=())
    rejected = diff_plans([sc], [bare]).change(sc.name)
    assert rejected.action == "update" and "422" in rejected.blocked
    driver = next(r for r in state.by_type("kubernetes:storage.k8s.io/v1:CSIDriver"))
    assert set(driver.replace_on_changes) == {"spec.attachRequired", "spec.volumeLifecycleModes"}


def test_replacing_an_install_step_runs_the_programs_current_text_not_the_held_one() -> None:
    # Issue 19 item 5: a --replace target is created from the program's inputs (step_generator.go
    # L1321-L1333), though `create` is under ignoreChanges for updates; nothing else on the node is touched.
    item = outcome("replace-install-step-2")
    assert touched(item.diff) == {"honeydue-k3s-2-install": "replace"}
    change = item.diff.change("honeydue-k3s-2-install")
    assert change.targeted and command_effect(change, None, item.program.get(COMMAND, change.name)) == "runs create"


def test_a_public_net_edit_never_reaches_a_running_server_and_a_replacement_takes_it() -> None:
    # Issue 19 items 1 and 8: publicNets is held for good (an update powers the server off and on); a
    # replacement of the node, one at a time, is created with the program's current value.
    from offline.engine_diff import diff_plans

    state = outcome("no-change").program.registrations
    server = next(r for r in state if r.name == "honeydue-2" and r.type == "hcloud:index/server:Server")
    edited = dataclasses.replace(
        server, inputs={**server.inputs, "publicNets": [{"ipv4Enabled": True, "ipv6Enabled": False}]}
    )
    assert diff_plans([server], [edited]).change("honeydue-2").action == "same"
    unheld = dataclasses.replace(edited, ignore_changes=tuple(i for i in edited.ignore_changes if i != "publicNets"))
    update = diff_plans([server], [unheld]).change("honeydue-2")
    assert update.action == "update" and update.stops_service and "power-off" in " ".join(update.effects)
    # Released first (replaceableNodes: both locks lifted), as the runbook says.
    released = next(r for r in outcome("release-server-2").program.registrations if r.urn == server.urn)
    rolled = diff_plans(
        [released],
        [
            dataclasses.replace(
                released, inputs={**released.inputs, **{"publicNets": [{"ipv4Enabled": True, "ipv6Enabled": False}]}}
            )
        ],
        replace=[server.urn],
    )
    assert rolled.change("honeydue-2").action == "replace" and not rolled.change("honeydue-2").blocked


def test_make_scenario_takes_config_changes_on_top(capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 24 item 3: `make scenario NAME=no-change SET='k3sVersion=v1.34.7+k3s1'` models a patch upgrade.
    from offline.scenario_report import main

    assert main(["no-change", "--set", "k3sVersion=v1.34.7+k3s1"]) == 0
    out = capsys.readouterr().out
    assert "program: k3sVersion=v1.34.7+k3s1" in out and "3 update, 0 replace, 0 delete" in out


def test_a_1_35_upgrade_while_ipvs_is_on_is_refused_in_one_sentence(capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 24 item 3: IPVS is deprecated from Kubernetes 1.35; the upgrade waits for the switch.
    from offline.scenario_report import main

    assert main(["bump-k3s-version", "--set", "kubeProxyMode=ipvs"]) == 1
    err = capsys.readouterr().err
    assert "honeydue:kubeProxyMode: ipvs is deprecated from Kubernetes 1.35" in err and "Traceback" not in err
