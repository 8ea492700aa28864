"""Nodes and the node firewall as the program registers them (mock engine), and what nodes run."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from components.firewall.component import firewall_policy, rule_problems
from components.firewall.hcloud import hcloud_rules
from components.firewall.ufw import FIREWALL_SCRIPT_PATH
from components.hetzner.cloud_init import USER_DATA_LIMIT, NodeBootstrap, render_cloud_init
from components.hetzner.nodes import (
    SERVER_IGNORE_CHANGES,
    agent_private_ip,
    agent_spread_group_names,
    operator_key_name,
    private_ip,
)
from offline.fakes import CLOUDFLARE_IPV4, CLOUDFLARE_IPV6
from offline.harness import run_program
from offline.plan import node_documents, revealed
from offline.records import Plan, Registration, SecretValue
from tests.conftest import load_prod
from tests.validators import require_tool

SERVER = "hcloud:index/server:Server"


def test_three_cx33_servers_in_nbg1_spread_on_the_private_network(prod_plan: Plan) -> None:
    servers = sorted(prod_plan.by_type(SERVER), key=lambda r: r.name)
    assert [s.name for s in servers] == ["honeydue-1", "honeydue-2", "honeydue-3"]
    placement = prod_plan.get("hcloud:index/placementGroup:PlacementGroup", "honeydue-spread")
    network = prod_plan.get("hcloud:index/network:Network", "honeydue-private")
    subnet = prod_plan.get("hcloud:index/networkSubnet:NetworkSubnet", "honeydue-nodes")
    assert placement.inputs["type"] == "spread"
    assert subnet.inputs["networkZone"] == "eu-central" and subnet.inputs["ipRange"] == "10.0.1.0/24"
    for server, ip in zip(servers, ["10.0.1.2", "10.0.1.3", "10.0.1.4"], strict=True):
        assert (server.inputs["serverType"], server.inputs["location"]) == ("cx33", "nbg1")
        assert server.inputs["image"] == "ubuntu-24.04"
        # alias_ips=[] or the provider re-attaches the private NIC on every apply (terraform-provider-hcloud#650).
        assert server.inputs["networks"] == [{"aliasIps": [], "ip": ip, "networkId": int(network.id)}]
        # Names and private IPs are unique at Hetzner: the old server must go first.
        assert server.delete_before_replace
        assert server.inputs["placementGroupId"] > 0
        assert placement.urn in server.dependencies and subnet.urn in server.dependencies


def test_running_servers_are_protected_and_never_replaced_by_a_config_edit(prod_plan: Plan) -> None:
    for server in prod_plan.by_type(SERVER):
        assert server.protect
        assert server.inputs["deleteProtection"] is True and server.inputs["rebuildProtection"] is True
        assert set(server.ignore_changes) >= {"userData", "sshKeys", "image"}
        assert tuple(server.ignore_changes) == tuple(SERVER_IGNORE_CHANGES)
    assert prod_plan.get("hcloud:index/network:Network", "honeydue-private").protect


def test_protection_follows_config() -> None:
    plan = run_program("prod", {"protectServers": False})
    for server in plan.by_type(SERVER):
        assert not server.protect and server.inputs["deleteProtection"] is False


def test_user_data_carrying_the_host_key_is_secret(prod_plan: Plan) -> None:
    for server in prod_plan.by_type(SERVER):
        assert isinstance(server.inputs["userData"], SecretValue)
        assert "FAKE-PRIVATE-KEY" in revealed(server.inputs["userData"])  # the key is inside, encrypted


def test_each_node_gets_its_own_host_key_and_cloud_init_installs_it(prod_plan: Plan) -> None:
    public_keys = set()
    for server in prod_plan.by_type(SERVER):
        document = yaml.safe_load(revealed(server.inputs["userData"]))
        keys = document["ssh_keys"]
        assert keys["ed25519_private"].startswith(f"FAKE-PRIVATE-KEY-{server.name}-host-key")
        public_keys.add(keys["ed25519_public"])
        assert document["ssh_genkeytypes"] == ["ed25519"] and document["ssh_deletekeys"] is True
        assert document["write_files"][0]["path"] == FIREWALL_SCRIPT_PATH
        assert document["write_files"][0]["permissions"] == "0755"
        assert document["runcmd"] == [[FIREWALL_SCRIPT_PATH, "--first-boot"]]
    assert len(public_keys) == 3


def test_ssh_keys_are_the_deploy_key_and_every_operator_key(prod_plan: Plan) -> None:
    config = load_prod()
    names = {r.name for r in prod_plan.by_type("hcloud:index/sshKey:SshKey")}
    expected = {"honeydue-deploy"} | {operator_key_name("honeydue", k) for k in config.nodes.ssh_public_keys}
    assert names == expected
    for server in prod_plan.by_type(SERVER):
        assert sorted(server.inputs["sshKeys"]) == sorted(expected)


def test_operator_key_names_do_not_shift_when_a_key_is_removed() -> None:
    a = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIECUwGq7vWFf8uDoyI1J6+OeIMS3IKpHbVCCYQkeXJOo a"
    assert operator_key_name("honeydue", a) == operator_key_name("honeydue", a.replace(" a", " renamed"))


def test_private_ips_skip_the_hetzner_gateway() -> None:
    assert [private_ip("10.0.1.0/24", i) for i in (1, 2, 3)] == ["10.0.1.2", "10.0.1.3", "10.0.1.4"]


def test_hcloud_firewall_is_the_same_rule_model_and_attached_to_every_server(prod_plan: Plan) -> None:
    firewall = prod_plan.get("hcloud:index/firewall:Firewall", "honeydue-firewall")
    config = load_prod()
    rules, problems = rule_problems(firewall_policy(config.nodes, config.k3s, tuple(CLOUDFLARE_IPV4 + CLOUDFLARE_IPV6)))
    assert problems == []
    expected = [
        {"direction": r["direction"], "protocol": r["protocol"], "port": r["port"], "sourceIps": r["source_ips"],
         "description": r["description"]}
        for r in hcloud_rules(rules)
    ]  # fmt: skip
    assert firewall.inputs["rules"] == expected
    for server in prod_plan.by_type(SERVER):
        assert firewall.urn in server.dependencies
        assert len(server.inputs["firewallIds"]) == 1


def test_hcloud_firewall_can_be_switched_off() -> None:
    plan = run_program("prod", {"hcloudFirewall": False})
    assert plan.by_type("hcloud:index/firewall:Firewall") == []
    assert all(s.inputs.get("firewallIds", []) == [] for s in plan.by_type(SERVER))


def test_web_ports_follow_origin_lockdown(prod_plan: Plan) -> None:
    def web_sources(plan: Plan) -> list[str]:
        rules = plan.get("hcloud:index/firewall:Firewall", "honeydue-firewall").inputs["rules"]
        return next(r["sourceIps"] for r in rules if r["port"] == "443")

    assert sorted(web_sources(prod_plan)) == sorted(CLOUDFLARE_IPV4 + CLOUDFLARE_IPV6)
    assert web_sources(run_program("prod", {"originLockdown": False})) == ["0.0.0.0/0", "::/0"]


def test_a_public_private_network_is_rejected_before_anything_is_created() -> None:
    from components.config.reader import ConfigError

    with pytest.raises(ConfigError, match=r"honeydue:privateNetworkCidr:.*private"):
        load_prod({"privateNetworkCidr": "8.8.0.0/16", "privateSubnetCidr": "8.8.1.0/24"})


def test_cloud_init_passes_the_cloud_init_schema(prod_plan: Plan, tmp_path: Path) -> None:
    tool = require_tool("cloud-init")
    for name, text in node_documents(prod_plan).items():
        if name.endswith("cloud-init.yaml"):
            path = tmp_path / name.replace("/", "_")
            path.write_text(text)
            result = subprocess.run([tool, "schema", "--config-file", str(path)], capture_output=True, text=True)
            assert result.returncode == 0, f"{name}: {result.stdout}{result.stderr}"


def test_node_scripts_pass_shellcheck(prod_plan: Plan, tmp_path: Path) -> None:
    tool = require_tool("shellcheck")
    # The K3s step scripts a node's converge installs (nodes/<node>/files/usr/local/lib/honeydue/k3s/) source
    # lib.sh beside them: tests/test_k3s_node.py checks them where they live (scripts/k3s), with shellcheck -x.
    scripts = {
        n: t
        for n, t in node_documents(prod_plan).items()
        if t.startswith("#!") and "/usr/local/lib/honeydue/k3s/" not in n
    }
    assert any(n.endswith(FIREWALL_SCRIPT_PATH) for n in scripts)
    for name, text in scripts.items():
        path = tmp_path / name.replace("/", "_")
        path.write_text(text)
        result = subprocess.run([tool, "--severity=style", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, f"{name}:\n{result.stdout}"


def test_user_data_stays_under_the_hetzner_limit_with_real_sized_keys() -> None:
    config = load_prod()
    rules, problems = rule_problems(firewall_policy(config.nodes, config.k3s, tuple(CLOUDFLARE_IPV4 + CLOUDFLARE_IPV6)))
    assert problems == []
    from components.firewall.ufw import render_ufw_script

    real_sized_key = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\n" + ("A" * 70 + "\n") * 6 + "-----END OPENSSH PRIVATE KEY-----\n"
    )
    text = render_cloud_init(
        NodeBootstrap(hostname="honeydue-1", host_private_key=real_sized_key, host_public_key="ssh-ed25519 AAAA",
                      firewall_script=render_ufw_script(rules))
    )  # fmt: skip
    assert len(text.encode()) < USER_DATA_LIMIT
    assert yaml.safe_load(text)["ssh_keys"]["ed25519_private"] == real_sized_key


# --- agents -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def agents_plan() -> Plan:
    return run_program("prod", {"agentCount": 2, "agentServerType": "cpx41"})


def _servers(plan: Plan, role: str) -> list[Registration]:
    return sorted((s for s in plan.by_type(SERVER) if s.inputs["labels"]["role"] == role), key=lambda r: r.name)


def test_agents_are_servers_of_their_own_after_the_servers_addresses(agents_plan: Plan) -> None:
    servers, agents = _servers(agents_plan, "k3s-server"), _servers(agents_plan, "k3s-agent")
    assert [s.name for s in servers] == ["honeydue-1", "honeydue-2", "honeydue-3"]
    assert [a.name for a in agents] == ["honeydue-agent-1", "honeydue-agent-2"]
    # The servers keep their addresses; agents start after every address a server may take.
    assert [s.inputs["networks"][0]["ip"] for s in servers] == ["10.0.1.2", "10.0.1.3", "10.0.1.4"]
    assert [a.inputs["networks"][0]["ip"] for a in agents] == ["10.0.1.11", "10.0.1.12"]
    network = agents_plan.get("hcloud:index/network:Network", "honeydue-private")
    firewall = agents_plan.get("hcloud:index/firewall:Firewall", "honeydue-firewall")
    for agent in agents:
        assert agent.inputs["serverType"] == "cpx41"
        assert agent.inputs["networks"][0]["networkId"] == int(network.id)
        assert agent.inputs["labels"]["node"] == agent.name
        assert firewall.urn in agent.dependencies and len(agent.inputs["firewallIds"]) == 1
        assert agent.protect and agent.inputs["deleteProtection"] is True and agent.inputs["rebuildProtection"]
        assert tuple(agent.ignore_changes) == tuple(SERVER_IGNORE_CHANGES)
        document = yaml.safe_load(revealed(agent.inputs["userData"]))
        assert document["ssh_keys"]["ed25519_private"].startswith(f"FAKE-PRIVATE-KEY-{agent.name}-host-key")
        assert document["runcmd"] == [[FIREWALL_SCRIPT_PATH, "--first-boot"]]
    for server in servers:
        assert server.inputs["serverType"] == "cx33"


def test_agents_spread_in_groups_of_their_own(agents_plan: Plan) -> None:
    servers_group = agents_plan.get("hcloud:index/placementGroup:PlacementGroup", "honeydue-spread")
    agents_group = agents_plan.get("hcloud:index/placementGroup:PlacementGroup", "honeydue-agent-spread-1")
    assert agents_group.inputs["type"] == "spread"
    for agent in _servers(agents_plan, "k3s-agent"):
        assert agent.inputs["placementGroupId"] == int(agents_group.id)
        assert servers_group.urn not in agent.dependencies
    for server in _servers(agents_plan, "k3s-server"):
        assert server.inputs["placementGroupId"] == int(servers_group.id)


def test_a_spread_group_never_holds_more_than_ten_servers() -> None:
    plan = run_program("prod", {"agentCount": 11})
    members: dict[int, list[str]] = {}
    for server in plan.by_type(SERVER):
        members.setdefault(server.inputs["placementGroupId"], []).append(server.name)
    assert sorted(len(m) for m in members.values()) == [1, 3, 10]
    group_2 = plan.get("hcloud:index/placementGroup:PlacementGroup", "honeydue-agent-spread-2")
    assert members[int(group_2.id)] == ["honeydue-agent-11"]
    assert agent_spread_group_names("honeydue", 0) == []
    assert agent_spread_group_names("honeydue", 10) == ["honeydue-agent-spread-1"]
    assert agent_spread_group_names("honeydue", 21)[-1] == "honeydue-agent-spread-3"


def test_prod_has_no_agent_resources(prod_plan: Plan) -> None:
    assert not [r.name for r in prod_plan.registrations if "agent" in r.name]


def test_agent_addresses_never_move_when_servers_are_added() -> None:
    assert [agent_private_ip("10.0.1.0/24", n) for n in (1, 2)] == ["10.0.1.11", "10.0.1.12"]
    assert private_ip("10.0.1.0/24", 9) == "10.0.1.10"  # the 9th server, the most there can be
