"""The firewall rule model, pure: who may reach which port, and what the UFW and hcloud renderers emit."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from components.firewall.hcloud import hcloud_rules
from components.firewall.node_rules import node_firewall_rules
from components.firewall.prefilter import prefilter_rules
from components.firewall.rules import ANYWHERE, PRIVATE_INTERFACE, FirewallPolicy, FirewallRule, permits, validate_rules
from components.firewall.ufw import render_ufw_script, ufw_specs
from tests.test_firewall_netns import NEW, OLD

ADMINS = ("198.51.100.10/32", "2001:db8:100::/64")
DEPLOYER = ("192.0.2.77/32",)
PRIVATE = "10.0.0.0/16"
PODS = "10.42.0.0/16"
SERVICES = "10.43.0.0/16"
CLOUDFLARE = ("203.0.113.0/25", "2001:db8:c0::/48")
TEMPLATE = Path(__file__).resolve().parent.parent / "scripts" / "ufw_apply.sh.tmpl"


def policy(**changes: object) -> FirewallPolicy:
    base = FirewallPolicy(
        admin_cidrs=ADMINS,
        deployer_cidrs=DEPLOYER,
        private_network_cidr=PRIVATE,
        cluster_cidr=PODS,
        service_cidr=SERVICES,
        web_sources=CLOUDFLARE,
        wireguard=False,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def inbound(rules: tuple[FirewallRule, ...]) -> dict[tuple[str, str, str], tuple[str, ...]]:
    """(protocol, ports, interface) -> sources, for port rules to the node itself."""
    table: dict[tuple[str, str, str], tuple[str, ...]] = {}
    for rule in rules:
        if not rule.routed and rule.protocol != "any":
            key = (rule.protocol, rule.port_label(), rule.interface)
            assert key not in table, f"two rules for {key}"
            table[key] = rule.sources
    return table


NIC = PRIVATE_INTERFACE


def test_each_port_has_exactly_the_sources_and_interface_the_policy_names() -> None:
    assert inbound(node_firewall_rules(policy())) == {
        ("tcp", "22", ""): ("192.0.2.77/32", "198.51.100.10/32", "2001:db8:100::/64"),
        ("tcp", "6443", ""): ("192.0.2.77/32", "198.51.100.10/32", "2001:db8:100::/64"),
        ("tcp", "6443", NIC): (PRIVATE,),
        ("tcp", "80", ""): CLOUDFLARE,
        ("tcp", "443", ""): CLOUDFLARE,
        ("tcp", "2379-2380", NIC): (PRIVATE,),
        ("tcp", "10250", NIC): (PRIVATE,),
        ("udp", "8472", NIC): (PRIVATE,),
        ("tcp", "80", "cni0"): (PODS,),
        ("tcp", "443", "cni0"): (PODS,),
        ("tcp", "6443", "cni0"): (PODS,),
        ("tcp", "10250", "cni0"): (PODS,),
    }


def test_private_sources_count_only_on_the_private_nic() -> None:
    rules = node_firewall_rules(policy(wireguard=True))
    for protocol, port in (("tcp", 2379), ("tcp", 2380), ("tcp", 10250), ("udp", 8472), ("udp", 51820)):
        assert permits(rules, source="10.0.1.2", protocol=protocol, port=port, interface=NIC)  # type: ignore[arg-type]
        # The same packet with a forged source on the public NIC, or from the pod bridge:
        assert not permits(rules, source="10.0.1.2", protocol=protocol, port=port)  # type: ignore[arg-type]
        assert not permits(rules, source="10.0.1.2", protocol=protocol, port=port, interface="cni0")  # type: ignore[arg-type]


def test_pods_reach_only_what_they_need_and_only_pods_are_forwarded() -> None:
    rules = node_firewall_rules(policy())
    for port in (80, 443, 6443, 10250):
        assert permits(rules, source="10.42.0.4", protocol="tcp", port=port, interface="cni0")
        assert not permits(rules, source="10.42.0.4", protocol="tcp", port=port)  # forged, public NIC
    for protocol, port in (("udp", 53), ("tcp", 22), ("tcp", 2379), ("tcp", 8080), ("tcp", 9100), ("tcp", 30080)):
        assert not permits(rules, source="10.42.0.4", protocol=protocol, port=port, interface="cni0")  # type: ignore[arg-type]
        assert not permits(rules, source="10.43.0.10", protocol=protocol, port=port, interface="cni0")  # type: ignore[arg-type]
    # Service IPs (IPVS binds them on the node): any port, from local pods only.
    assert permits(rules, source="10.42.0.4", protocol="udp", port=53, interface="cni0", destination="10.43.0.10")
    assert not permits(rules, source="10.42.0.4", protocol="udp", port=53, destination="10.43.0.10")
    assert [(r.sources, r.interface) for r in rules if r.routed] == [((PODS,), "cni0"), ((PODS,), "flannel.1")]
    assert permits(rules, source="10.42.3.4", protocol="tcp", port=443, routed=True, interface="flannel.1")
    assert not permits(rules, source="10.42.3.4", protocol="tcp", port=443, routed=True)
    assert not permits(rules, source="10.43.0.10", protocol="tcp", port=443, routed=True, interface="cni0")
    assert not permits(rules, source="192.0.2.50", protocol="tcp", port=443, routed=True)


def test_deployer_may_be_empty() -> None:
    rules = node_firewall_rules(policy(deployer_cidrs=()))
    assert inbound(rules)[("tcp", "22", "")] == ("198.51.100.10/32", "2001:db8:100::/64")


@pytest.mark.parametrize("port", [80, 443])
def test_origin_lockdown_limits_web_ports_to_cloudflare(port: int) -> None:
    locked = node_firewall_rules(policy())
    assert permits(locked, source="203.0.113.5", protocol="tcp", port=port)
    assert permits(locked, source="2001:db8:c0:1::5", protocol="tcp", port=port)
    assert not permits(locked, source="192.0.2.50", protocol="tcp", port=port)
    assert not permits(locked, source="2001:db8:50::50", protocol="tcp", port=port)

    open_ = node_firewall_rules(policy(web_sources=None))
    assert inbound(open_)[("tcp", str(port), "")] == ANYWHERE
    assert permits(open_, source="192.0.2.50", protocol="tcp", port=port)
    assert permits(open_, source="2001:db8:50::50", protocol="tcp", port=port)


def test_wireguard_adds_its_ports_for_the_private_network_only() -> None:
    assert ("udp", "51820-51821", NIC) not in inbound(node_firewall_rules(policy(wireguard=False)))
    rules = node_firewall_rules(policy(wireguard=True))
    assert inbound(rules)[("udp", "51820-51821", NIC)] == (PRIVATE,)
    assert permits(rules, source="10.0.1.2", protocol="udp", port=51821, interface=NIC)
    assert not permits(rules, source="198.51.100.10", protocol="udp", port=51820)
    # VXLAN stays: nodes switch backends one at a time; remote pods arrive through either tunnel.
    assert inbound(rules)[("udp", "8472", NIC)] == (PRIVATE,)
    assert [r.interface for r in rules if r.routed] == ["cni0", "flannel.1", "flannel-wg"]


@pytest.mark.parametrize(
    ("protocol", "port"),
    [("tcp", 8080), ("tcp", 9100), ("tcp", 30000), ("tcp", 32767), ("udp", 30080), ("tcp", 2222), ("tcp", 5432)],
)
@pytest.mark.parametrize("web_sources", [CLOUDFLARE, None])
def test_everything_else_is_closed_to_admins_and_the_internet(
    protocol: str, port: int, web_sources: tuple[str, ...] | None
) -> None:
    rules = node_firewall_rules(policy(web_sources=web_sources, wireguard=True))
    for source in ("198.51.100.10", "2001:db8:100::1", "192.0.2.50", "203.0.113.5", "10.0.1.2"):
        for interface in ("", NIC, "cni0"):
            assert not permits(rules, source=source, protocol=protocol, port=port, interface=interface)  # type: ignore[arg-type]


def test_admin_ports_are_closed_to_cloudflare_and_the_internet() -> None:
    rules = node_firewall_rules(policy(web_sources=None))
    for port in (22, 6443):
        assert not permits(rules, source="192.0.2.50", protocol="tcp", port=port)
        assert not permits(rules, source="203.0.113.5", protocol="tcp", port=port)
    assert not permits(rules, source="10.0.1.2", protocol="tcp", port=22, interface=NIC)
    assert permits(rules, source="10.0.1.2", protocol="tcp", port=6443, interface=NIC)


def test_rule_order_is_fixed() -> None:
    descriptions = [r.description for r in node_firewall_rules(policy(wireguard=True))]
    assert descriptions == [
        "SSH from admins and deployer",
        "Kubernetes API from admins and deployer",
        "Kubernetes API from nodes",
        "HTTP to hostNetwork Traefik",
        "HTTPS to hostNetwork Traefik",
        "etcd between servers",
        "kubelet API from nodes",
        "flannel VXLAN between nodes",
        "flannel WireGuard between nodes",
        "pods to hostNetwork Traefik HTTP",
        "pods to hostNetwork Traefik HTTPS",
        "pods to Kubernetes API",
        "pods to kubelet API",
        "pods to Service IPs (IPVS)",
        "forward pod traffic from cni0",
        "forward pod traffic from flannel.1",
        "forward pod traffic from flannel-wg",
    ]


def test_sources_are_normalised_sorted_and_deduplicated() -> None:
    rule = FirewallRule(
        description="x",
        protocol="tcp",
        port_from=22,
        sources=("2001:DB8:0::1/32", "10.0.0.5/16", "9.9.9.9", "10.0.0.0/16", "198.51.100.10/32"),
    )
    # Numeric order, IPv4 before IPv6: "9.9.9.9" sorts before "10.0.0.0" (a string sort would not).
    assert rule.sources == ("9.9.9.9/32", "10.0.0.0/16", "198.51.100.10/32", "2001:db8::/32")
    assert rule.port_to == 22


def test_anywhere_absorbs_other_sources_and_needs_both_families() -> None:
    rule = FirewallRule(description="x", protocol="tcp", port_from=80, sources=("::/0", "192.0.2.1", "0.0.0.0/0"))
    assert rule.sources == ANYWHERE
    with pytest.raises(ValueError, match="other-family twin"):
        FirewallRule(description="x", protocol="tcp", port_from=80, sources=("0.0.0.0/0",))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"sources": ("300.1.1.1/8",)}, "300.1.1.1"),
        ({"sources": ()}, "at least one source"),
        ({"port_from": 0}, "not in 1-65535"),
        ({"port_from": 70000}, "not in 1-65535"),
        ({"port_from": True}, "not in 1-65535"),
        ({"port_from": 2380, "port_to": 2379}, "reversed"),
        ({"protocol": "icmp"}, "protocol must be"),
        ({"protocol": "any"}, "takes no ports"),
        ({"description": "it's"}, "description"),
        ({"description": "a; rm -rf /"}, "description"),
        ({"description": ""}, "description"),
    ],
)
def test_bad_rules_are_rejected(changes: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"description": "x", "protocol": "tcp", "port_from": 22, "sources": ("192.0.2.1",)}
    with pytest.raises(ValueError, match=message):
        FirewallRule(**(args | changes))  # type: ignore[arg-type]


def test_bad_policy_reports_every_problem_at_once() -> None:
    with pytest.raises(ValueError) as err:
        policy(admin_cidrs=(), private_network_cidr="10.0.0.0/33", web_sources=(), deployer_cidrs=("nope",))
    text = str(err.value)
    for fragment in ("admin_cidrs", "private_network_cidr: '10.0.0.0/33'", "deployer_cidrs: 'nope'", "web_sources"):
        assert fragment in text


def test_the_node_rules_validate_clean() -> None:
    for changes in ({}, {"wireguard": True}, {"web_sources": None}):
        rules = node_firewall_rules(policy(**changes))
        assert validate_rules(rules, private_cidrs=(PRIVATE, PODS, SERVICES)) == []


@pytest.mark.parametrize(
    ("protocol", "port_from", "port_to", "purpose"),
    [
        ("tcp", 2379, 2380, "etcd"),
        ("tcp", 2380, 2380, "etcd"),
        ("tcp", 10250, 10250, "kubelet"),
        ("udp", 8472, 8472, "flannel VXLAN"),
        ("udp", 51821, 51821, "flannel WireGuard"),
        ("tcp", 8080, 8080, "Traefik dashboard"),
        ("tcp", 9100, 9100, "Traefik metrics"),
        ("tcp", 30080, 30080, "NodePorts"),
    ],
)
def test_validate_flags_a_public_source_on_a_private_only_port(
    protocol: str, port_from: int, port_to: int, purpose: str
) -> None:
    leaky = FirewallRule(
        description="leaky rule",
        protocol=protocol,  # type: ignore[arg-type]
        port_from=port_from,
        port_to=port_to,
        sources=(PRIVATE, "198.51.100.0/24"),
    )
    rules = (*node_firewall_rules(policy()), leaky)
    problems = validate_rules(rules, private_cidrs=(PRIVATE, PODS, SERVICES))
    assert len(problems) == 1
    assert "'leaky rule'" in problems[0] and purpose in problems[0] and "198.51.100.0/24" in problems[0]
    assert PRIVATE not in problems[0].split(" to ")[1].split(";")[0]


def test_validate_flags_public_any_and_routed_rules_but_not_public_web_ports() -> None:
    rules = (
        FirewallRule(description="everything", protocol="any", sources=ANYWHERE),
        FirewallRule(description="forward all", protocol="any", sources=("192.0.2.0/24",), routed=True),
        FirewallRule(description="web", protocol="tcp", port_from=443, sources=ANYWHERE),
        FirewallRule(description="wrong protocol", protocol="udp", port_from=2379, sources=ANYWHERE),
    )
    problems = validate_rules(rules, private_cidrs=(PRIVATE,))
    assert len(problems) == 2
    assert problems[0].startswith("rule 'everything'") and "etcd" in problems[0] and "NodePorts" in problems[0]
    assert problems[1].startswith("rule 'forward all'") and "forwarding to pods" in problems[1]


def test_validate_treats_v6_sources_as_outside_a_v4_private_network() -> None:
    rule = FirewallRule(description="etcd v6", protocol="tcp", port_from=2379, sources=("2001:db8:10::/64",))
    assert "2001:db8:10::/64" in validate_rules([rule], private_cidrs=(PRIVATE,))[0]
    assert validate_rules([rule], private_cidrs=(PRIVATE, "2001:db8:10::/48")) == []


def test_hcloud_rules_shapes() -> None:
    rules = hcloud_rules(node_firewall_rules(policy(wireguard=True)))
    assert rules[0] == {
        "direction": "in",
        "protocol": "tcp",
        "port": "22",
        "source_ips": ["192.0.2.77/32", "198.51.100.10/32", "2001:db8:100::/64"],
        "description": "SSH from admins and deployer",
    }
    by_port = {(r["protocol"], r["port"]): r for r in rules}
    assert set(by_port) == {
        ("tcp", "22"),
        ("tcp", "6443"),
        ("tcp", "80"),
        ("tcp", "443"),
        ("tcp", "2379-2380"),
        ("tcp", "10250"),
        ("udp", "8472"),
        ("udp", "51820-51821"),
    }
    assert by_port[("tcp", "443")]["source_ips"] == list(CLOUDFLARE)
    assert all(r["direction"] == "in" and r["protocol"] in ("tcp", "udp") for r in rules)


def test_hcloud_rules_open_web_to_both_families_without_lockdown() -> None:
    by_port = {r["port"]: r for r in hcloud_rules(node_firewall_rules(policy(web_sources=None)))}
    assert by_port["80"]["source_ips"] == ["0.0.0.0/0", "::/0"]


def test_ufw_specs_match_the_syntax_ufw_show_added_prints() -> None:
    assert ufw_specs(
        FirewallRule(description="x", protocol="tcp", port_from=22, sources=("198.51.100.10/32", "2001:db8::1/128"))
    ) == ["allow from 198.51.100.10 to any port 22 proto tcp", "allow from 2001:db8::1 to any port 22 proto tcp"]
    assert ufw_specs(
        FirewallRule(description="x", protocol="tcp", port_from=2379, port_to=2380, sources=(PRIVATE,))
    ) == ["allow from 10.0.0.0/16 to any port 2379:2380 proto tcp"]
    assert ufw_specs(FirewallRule(description="x", protocol="udp", port_from=8472, sources=ANYWHERE)) == [
        "allow 8472/udp"
    ]
    assert ufw_specs(FirewallRule(description="x", protocol="any", sources=(PODS,))) == ["allow from 10.42.0.0/16"]
    assert ufw_specs(FirewallRule(description="x", protocol="any", sources=(PODS,), routed=True)) == [
        "route allow from 10.42.0.0/16"
    ]
    assert ufw_specs(FirewallRule(description="x", protocol="any", sources=ANYWHERE)) == ["allow to any"]


def test_script_lists_every_wanted_rule_with_its_comment() -> None:
    script = render_ufw_script(node_firewall_rules(policy()))
    assert script.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in script
    assert "@@WANTED_RULES@@" not in script
    wants = [line for line in script.splitlines() if line.startswith("want ")]
    assert wants[0] == "want 'allow from 192.0.2.77 to any port 22 proto tcp' 'SSH from admins and deployer'"
    assert "want 'allow from 203.0.113.0/25 to any port 443 proto tcp' 'HTTPS to hostNetwork Traefik'" in wants
    assert "want 'route allow in on cni0 from 10.42.0.0/16' 'forward pod traffic from cni0'" in wants
    assert (
        "want 'allow in on @private from 10.0.0.0/16 to any port 2379:2380 proto tcp' 'etcd between servers'" in wants
    )
    assert "want 'allow in on cni0 from 10.42.0.0/16 to 10.43.0.0/16' 'pods to Service IPs (IPVS)'" in wants
    assert len(wants) == 3 + 3 + 1 + 2 + 2 + 3 + 4 + 1 + 2
    assert "\nprivate_network 10.0.0.0/16\n" in script
    guard = [line for line in script.splitlines() if line.startswith("guard_source ")]
    assert guard == ["guard_source 192.0.2.77/32", "guard_source 198.51.100.10/32", "guard_source 2001:db8:100::/64"]
    for default in ("INPUT incoming DROP deny", "OUTPUT outgoing ACCEPT allow", "FORWARD routed DROP deny"):
        assert f"ensure_default {default}" in script
    # Converges in place: never resets or disables the firewall (comments may explain why not).
    code = [line for line in script.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "reset" in line or "disable" in line]


def test_script_is_deterministic() -> None:
    shuffled = policy(admin_cidrs=(*reversed(ADMINS), "198.51.100.10"), web_sources=tuple(reversed(CLOUDFLARE)))
    first = render_ufw_script(node_firewall_rules(policy()))
    assert render_ufw_script(node_firewall_rules(policy())) == first
    assert render_ufw_script(node_firewall_rules(shuffled)) == first
    assert render_ufw_script(node_firewall_rules(policy(web_sources=None))) != first


def test_script_refuses_two_comments_for_one_ufw_rule() -> None:
    one = FirewallRule(description="one", protocol="tcp", port_from=22, sources=("192.0.2.1",))
    two = FirewallRule(description="two", protocol="tcp", port_from=22, sources=("192.0.2.0/24", "192.0.2.1"))
    with pytest.raises(ValueError, match="'one' and 'two' both render"):
        render_ufw_script([one, two])


def _shellcheck() -> str:
    path = shutil.which("shellcheck")
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI must run shellcheck on the rendered UFW script; install it (make system-deps)")
        pytest.skip("shellcheck is not installed (make system-deps)")
    return path


@pytest.mark.parametrize("web_sources", [CLOUDFLARE, None])
def test_rendered_script_passes_shellcheck(tmp_path: Path, web_sources: tuple[str, ...] | None) -> None:
    script = tmp_path / "ufw-apply.sh"
    script.write_text(render_ufw_script(node_firewall_rules(policy(web_sources=web_sources, wireguard=True))))
    result = subprocess.run(
        [_shellcheck(), "--severity=style", str(script)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert syntax.returncode == 0, syntax.stderr


def test_template_itself_passes_shellcheck() -> None:
    result = subprocess.run(
        [_shellcheck(), "--severity=style", "--shell=bash", str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_prefilter_is_derived_from_the_rule_model() -> None:
    """The mangle chains (components/firewall/prefilter.py) follow the rules: pods' node ports, Service IPs and
    the tunnels they are forwarded from; the lab (tests/test_firewall_k3s.py) proves what they do."""
    for policy, tunnels in ((NEW, ["cni0", "flannel.1"]), (OLD, ["cni0", "flannel.1", "flannel-wg"])):
        specs = {(r.family, r.hook): [] for r in prefilter_rules(node_firewall_rules(policy))}
        for r in prefilter_rules(node_firewall_rules(policy)):
            specs[(r.family, r.hook)].append(r.spec)
        pre = specs[(4, "PREROUTING")]
        assert [s.split(" -i ")[1].split()[0] for s in pre if " -i " in s] == tunnels
        assert pre.index("-s 10.42.0.0/16 -d 169.254.169.254/32 -j DROP") < pre.index("-d 10.42.0.0/16 -j DROP")
        assert all(s.startswith("! -d 10.43.0.0/16 ") for s in pre if "30000:32767" in s)
        ports = [s.split("--dport ")[1].split()[0] for s in specs[(4, "INPUT")] if "--dport" in s]
        assert ports == ["80", "443", "6443", "10250"] and specs[(4, "INPUT")][-1] == "-j DROP"
        assert specs[(4, "OUTPUT")] == ["-d 169.254.169.254/32 -m owner ! --uid-owner 0 -j DROP"]
        assert set(specs) == {(4, "PREROUTING"), (4, "INPUT"), (4, "OUTPUT"), (6, "PREROUTING")}
