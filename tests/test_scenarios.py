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

from offline.engine_model import EngineDiff
from offline.records import SecretValue
from offline.replace_rules import rule_for
from offline.scenario_report import render
from offline.scenarios import NEW_DATABASE_URL, SCENARIOS, Outcome, evaluate, run

NODE_STEPS = ("cloud-init", "install", "ready", "leave")


@functools.cache
def outcome(name: str) -> Outcome:
    return run(name)


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


def test_every_resource_type_of_every_scenario_has_a_replace_rule() -> None:
    types = {r.type for name in sorted(SCENARIOS) for r in outcome(name).program.registrations if r.custom}
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
    # Fetching the kubeconfig runs on server 1: it may re-run, but must not replace anything downstream.
    others = {n: a for n, a in touched(diff).items() if not of_node(n, 1)}
    assert set(others) <= {"honeydue-k3s-kubeconfig", "honeydue-k3s-k8s"} and "replace" not in others.values()
    install = outcome("replace-server-1").program.get("command:remote:Command", "honeydue-k3s-1-install")
    text = install.inputs["create"]
    text = text.value if isinstance(text, SecretValue) else text
    assert "cluster-init: true" not in text  # a second etcd would start: the replacement must join


def test_replacing_a_server_without_lifting_hetzner_protection_is_refused() -> None:
    # The provider's Delete does not lift Hetzner's delete protection: the runbook must (docs/runbook.md).
    item = dataclasses.replace(SCENARIOS["replace-server-2"](), lift_hetzner_protection=False)
    assert "Hetzner delete protection" in evaluate(item).diff.change("honeydue-2").blocked


def test_replacing_a_server_is_seen_in_preview_with_unknown_addresses() -> None:
    # What a preview shows today and after the fix: the server's new addresses are unknown until applied.
    diff = outcome("replace-server-2-preview").diff
    assert diff.change("honeydue-2").action == "replace"
    records = [c for c in diff.changes if c.type == "cloudflare:index/dnsRecord:DnsRecord" and c.action != "same"]
    assert records and all(c.properties == ("content (unknown)",) for c in records)


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


def test_a_k3s_bump_re_runs_converge_one_server_at_a_time_and_nothing_else() -> None:
    diff = outcome("bump-k3s-version").diff
    converges = [f"honeydue-k3s-{i}-converge" for i in (1, 2, 3)]
    assert touched(diff) == dict.fromkeys(converges, "update")
    assert diff.forced_before(converges[0], converges[1]) and diff.forced_before(converges[1], converges[2])


def test_a_new_kubeconfig_ca_only_updates_the_provider() -> None:
    # The new CA reaches the provider (an update of its kubeconfig) and replaces nothing.
    assert touched(outcome("new-kubeconfig-ca").diff) == {"honeydue-k3s-k8s": "update"}


def test_flexible_to_strict_serves_the_origin_certificate_before_cloudflare_demands_it() -> None:
    diff = outcome("ssl-flexible-to-strict").diff
    changes = touched(diff)
    assert "replace" not in changes.values() and "delete" not in changes.values()
    assert changes["honeydue-edge-tls-ssl"] == "update"
    serving = [n for n, a in changes.items() if a == "create" and n.endswith("origin-tls")]
    serving += ["kube-system-helmchartconfig-traefik", "honeydue-ingress-honeydue-tls"]
    assert len(serving) == 4 and all(diff.forced_before(n, "honeydue-edge-tls-ssl") for n in serving)


def test_strict_to_flexible_lets_cloudflare_go_to_http_before_the_origin_stops_serving_https() -> None:
    diff = outcome("ssl-strict-to-flexible").diff
    changes = touched(diff)
    assert "replace" not in changes.values() and changes["honeydue-edge-tls-ssl"] == "update"
    after = [n for n, a in changes.items() if a == "delete"] + ["kube-system-helmchartconfig-traefik"]
    assert "honeydue-origin-cert" in after and all(diff.forced_before("honeydue-edge-tls-ssl", n) for n in after)


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
    assert not diff.blocked()  # after the runbook's unprotect of the agent servers
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
    for index in (4, 5):
        records = [n for n in leaving if n.startswith("honeydue-dns-") and of_node(n, index)]
        assert records and all(diff.forced_before(n, f"honeydue-k3s-{index}-leave") for n in records)
