"""tools/adopt_check.py: the program's registered inputs against exported JSON of the live production.

`match/` (tests/fixtures/live) is production as the program describes it; each mismatching case copies it
and changes one thing the way a hand-built production differs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from components.adoption import ADOPTABLE_TYPES
from offline.adoption_world import RUNNING_TOKEN, SERVERS, host_key
from offline.harness import run_program
from offline.records import Plan
from tools.adopt_check import check, main
from tools.adopt_findings import Finding, Report
from tools.live import load_live

MATCH = Path(__file__).parent / "fixtures" / "live" / "match"


def _check(plan: Plan, live_dir: Path) -> Report:
    return check(plan, load_live(live_dir))


@pytest.fixture
def edit(tmp_path: Path) -> Callable[[str, Callable[[Any], None]], Path]:
    """Copies match/ once per test; each call changes one file in place."""
    live = tmp_path / "live"
    shutil.copytree(MATCH, live)

    def change(name: str, how: Callable[[Any], None]) -> Path:
        path = live / name
        data = json.loads(path.read_text())
        how(data)
        path.write_text(json.dumps(data))
        return live

    return change


def _kinds(report: Report) -> set[tuple[str, str, str]]:
    return {(f.kind, f.resource, f.field) for f in report.findings}


def test_production_as_the_program_describes_it_has_no_difference(prod_plan: Plan) -> None:
    report = _check(prod_plan, MATCH)
    assert report.findings == []
    assert report.ok


def test_the_matched_ids_adopt_every_adoptable_resource(prod_plan: Plan) -> None:
    """The printed adoptIds entries, used as config, import everything but the deploy key's Hetzner key."""
    ids = _check(prod_plan, MATCH).adopt_ids
    overrides = {
        "adoptIds": [f"{name}={value}" for name, value in sorted(ids.items())],
        "adoptedHostKeys": [f"{s}={host_key(s)}" for s in SERVERS],
        "k3sToken": RUNNING_TOKEN,
    }
    plan = run_program("prod", overrides, preview=True)
    not_imported = [r.name for r in plan.registrations if r.type in ADOPTABLE_TYPES and not r.import_id]
    assert not_imported == ["honeydue-deploy"]
    assert plan.get("hcloud:index/server:Server", "honeydue-2").import_id == "41234562"
    assert plan.get("hcloud:index/networkSubnet:NetworkSubnet", "honeydue-nodes").import_id == "3456789-10.0.1.0/24"


def _server(name: str) -> Callable[[Any], dict[str, Any]]:
    return lambda servers: next(s for s in servers if s["name"] == name)


def test_a_different_private_ip_must_be_fixed_first(prod_plan: Plan, edit: Any) -> None:
    live = edit("hcloud-servers.json", lambda s: _server("honeydue-2")(s)["private_net"][0].update(ip="10.0.1.9"))
    report = _check(prod_plan, live)
    (finding,) = report.findings
    assert (finding.kind, finding.resource, finding.field) == ("MUST MATCH", "honeydue-2", "networks")
    assert not report.ok


def test_hard_coded_fields_of_a_hand_built_server_are_held_not_blocking(prod_plan: Plan, edit: Any) -> None:
    def hand_built(servers: Any) -> None:
        server = _server("honeydue-1")(servers)
        server.update(labels={"env": "prod"}, protection={"delete": False, "rebuild": False}, placement_group=None)
        server["public_net"]["firewalls"] = []
        server["server_type"]["name"] = "cx32"

    report = _check(prod_plan, edit("hcloud-servers.json", hand_built))
    assert _kinds(report) == {
        ("HELD", "honeydue-1", "labels"),
        ("HELD", "honeydue-1", "deleteProtection"),
        ("HELD", "honeydue-1", "rebuildProtection"),
        ("IGNORED", "honeydue-1", "placementGroupId"),
        ("HELD", "honeydue-1", "firewallIds"),
        ("IGNORED", "honeydue-1", "serverType"),
    }
    assert report.ok


def test_a_missing_server_would_be_created_and_blocks(prod_plan: Plan, edit: Any) -> None:
    live = edit("hcloud-servers.json", lambda s: s.remove(_server("honeydue-3")(s)))
    report = _check(prod_plan, live)
    assert Finding("MISSING", "honeydue-3", "server") in report.findings
    assert ("MISSING", "honeydue-dns-api-a-honeydue-3", "dns record") in _kinds(report)
    assert not report.ok


def test_a_network_named_otherwise_is_found_by_attachment_and_its_name_held(prod_plan: Plan, edit: Any) -> None:
    report = _check(prod_plan, edit("hcloud-networks.json", lambda n: n.update(name="prod-net")))
    assert report.findings == [Finding("HELD", "honeydue-private", "name", "honeydue-private", "prod-net")]
    assert report.adopt_ids["honeydue-private"] == "3456789"


def test_a_dns_only_record_and_another_ssl_mode_must_match(prod_plan: Plan, edit: Any) -> None:
    def dns_only(dns: Any) -> None:
        record = next(r for r in dns["result"] if r["name"] == "api.honeydue.app" and r["content"] == "198.51.100.21")
        record.update(proxied=False, ttl=300, comment=None)
        dns["result"].append(record | {"id": "f" * 32, "content": "192.0.2.99", "proxied": True, "ttl": 1})

    edit("cloudflare-dns-records.json", dns_only)

    def settings(response: Any) -> None:
        live = {setting["id"]: setting for setting in response["result"]}
        live["ssl"].update(value="full")  # config (sslMode)
        live["tls_1_3"].update(value="zrt")  # hard-coded, held: what the API reads while 0-RTT is on
        live["0rtt"].update(value="on")  # hard-coded, held

    live = edit("cloudflare-settings.json", settings)
    report = _check(prod_plan, live)
    assert _kinds(report) == {
        ("MUST MATCH", "honeydue-dns-api-a-honeydue-1", "proxied"),
        ("HELD", "honeydue-dns-api-a-honeydue-1", "ttl"),
        ("HELD", "honeydue-dns-api-a-honeydue-1", "comment"),
        ("UNMANAGED", "api.honeydue.app A 192.0.2.99", "dns record"),
        ("MUST MATCH", "honeydue-edge-tls-ssl", "value"),
        ("HELD", "honeydue-edge-tls-tls-1-3", "value"),
        ("HELD", "honeydue-edge-tls-0rtt", "value"),
    }


def test_the_automatic_ssl_mode_is_read_from_its_own_export_and_created_without_it(
    prod_plan: Plan, tmp_path: Path
) -> None:
    """The bulk settings list has no ssl_automatic_mode (tools/live.py): its own file gives it an import id.
    Without that file it is MISSING, not blocking: the first `up` writes "custom" (docs/migration.md, step 2)."""
    ids = _check(prod_plan, MATCH).adopt_ids
    zone = ids["honeydue-edge-tls-ssl"].split("/")[0]
    assert ids["honeydue-edge-tls-ssl-automatic-mode"] == f"{zone}/ssl_automatic_mode"
    assert ids["honeydue-edge-tls-0rtt"] == f"{zone}/0rtt"
    live = tmp_path / "live"
    shutil.copytree(MATCH, live)
    (live / "cloudflare-ssl-automatic-mode.json").unlink()
    report = _check(prod_plan, live)
    assert report.findings == [Finding("MISSING", "honeydue-edge-tls-ssl-automatic-mode", "zone setting")]
    assert report.ok and "honeydue-edge-tls-ssl-automatic-mode" not in report.adopt_ids


def test_firewall_rules_that_differ_must_match(prod_plan: Plan, edit: Any) -> None:
    live = edit("hcloud-firewalls.json", lambda f: f[0]["rules"][0].update(source_ips=["0.0.0.0/0", "::/0"]))
    assert _kinds(_check(prod_plan, live)) == {("MUST MATCH", "honeydue-firewall", "rules")}


def test_an_unknown_subnet_blocks(prod_plan: Plan, edit: Any) -> None:
    live = edit("hcloud-networks.json", lambda n: n["subnets"][0].update(ip_range="10.0.2.0/24"))
    report = _check(prod_plan, live)
    assert Finding("MISSING", "honeydue-nodes", "subnet") in report.findings and not report.ok


def test_kubernetes_immutable_fields_and_image_updates(prod_plan: Plan, edit: Any) -> None:
    def hand_applied(workloads: Any) -> None:
        redis = next(i for i in workloads["items"] if i["metadata"]["name"] == "redis")
        redis["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] = "5Gi"
        api = next(i for i in workloads["items"] if i["metadata"]["name"] == "api")
        api["spec"]["template"]["spec"]["containers"][0]["image"] = "ghcr.io/honeydue/api:v1.41.0"
        api["spec"]["selector"] = {"matchLabels": {"app": "api"}}
        workloads["items"].append({"kind": "Deployment", "metadata": {"name": "old-api", "namespace": "honeydue"}})

    report = _check(prod_plan, edit("kubectl-workloads.json", hand_applied))
    assert _kinds(report) == {
        ("K8S IMMUTABLE", "honeydue-statefulset-redis", "spec.volumeClaimTemplates"),
        ("K8S IMMUTABLE", "honeydue-deployment-api", "spec.selector"),
        ("UPDATED", "honeydue-deployment-api", "containers[].image"),
        ("UNMANAGED", "Deployment honeydue/old-api", "kubernetes object"),
    }
    assert not report.ok


def test_the_command_line_exit_codes(tmp_path: Path, edit: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(MATCH)]) == 0
    assert "adopt-check: no blocking difference" in capsys.readouterr().out
    broken = edit("hcloud-servers.json", lambda s: _server("honeydue-2")(s)["private_net"][0].update(ip="10.0.1.9"))
    assert main([str(broken)]) == 1
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "nowhere is not a directory: export the live resources into it first" in capsys.readouterr().err
    assert main([str(MATCH), "--stack", "nosuchstack"]) == 2
    assert "Pulumi.nosuchstack.yaml" in capsys.readouterr().err
