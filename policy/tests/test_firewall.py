"""cluster-ports-private-only: hcloud firewall rules and the UFW script's rule lines."""

from __future__ import annotations

import pytest
from conftest import UNKNOWN, resource_args, violations
from honeydue_policies.firewall import parse_ufw_rule
from pulumi_policy.proxy import UnknownValueError

POLICY = "cluster-ports-private-only"
FIREWALL = "hcloud:index/firewall:Firewall"
SERVER = "hcloud:index/server:Server"
COMMAND = "command:remote:Command"


def rule(port: str, sources: list[str], protocol: str = "tcp", direction: str = "in") -> dict[str, object]:
    return {"direction": direction, "protocol": protocol, "port": port, "sourceIps": sources, "description": port}


PROD_RULES = [
    rule("22", ["198.51.100.0/24", "2001:db8:100::/48"]),
    rule("6443", ["10.0.0.0/16", "198.51.100.0/24"]),
    rule("443", ["173.245.48.0/20", "2606:4700::/32"]),
    rule("2379-2380", ["10.0.0.0/16"]),
    rule("10250", ["10.0.0.0/16"]),
    rule("8472", ["10.0.0.0/16"], protocol="udp"),
]


def firewall(rules: list[dict[str, object]], **kwargs: object) -> list[str]:
    return violations(POLICY, resource_args(FIREWALL, {"name": "fw", "rules": rules}, **kwargs))  # type: ignore[arg-type]


def test_hcloud_rules_of_prod_pass() -> None:
    assert firewall(PROD_RULES) == []


@pytest.mark.parametrize(
    ("bad", "opened"),
    [
        (rule("2379-2380", ["10.0.0.0/16", "0.0.0.0/0"]), "etcd 2379-2380/tcp to 0.0.0.0/0"),
        (rule("2380", ["::/0"]), "etcd 2379-2380/tcp to ::/0"),
        (rule("10250", ["198.51.100.0/24"]), "kubelet 10250/tcp to 198.51.100.0/24"),
        (rule("8472", ["203.0.113.7/32"], protocol="udp"), "flannel VXLAN 8472/udp to 203.0.113.7/32"),
        # A wide range from the operators' network still opens all three.
        (rule("1-65535", ["198.51.100.0/24"]), "etcd 2379-2380/tcp, kubelet 10250/tcp to 198.51.100.0/24"),
        (rule("any", ["0.0.0.0/0"], protocol="udp"), "flannel VXLAN 8472/udp, flannel WireGuard 51820-51821/udp"),
    ],
)
def test_hcloud_rule_opening_a_cluster_port_publicly_is_a_violation(bad: dict[str, object], opened: str) -> None:
    found = firewall([*PROD_RULES, bad])
    assert len(found) == 1 and opened in found[0], found


def test_hcloud_rules_that_do_not_reach_cluster_ports_pass() -> None:
    # Another protocol on the same number, an outbound rule, and a public port.
    ok = [rule("2379", ["0.0.0.0/0"], protocol="udp"), rule("10250", ["0.0.0.0/0"], direction="out")]
    assert firewall([*PROD_RULES, *ok, rule("80", ["0.0.0.0/0", "::/0"])]) == []


def test_unparseable_hcloud_port_is_a_violation() -> None:
    assert "does not parse" in firewall([rule("ssh", ["0.0.0.0/0"])])[0]


def test_private_ranges_come_from_policy_config() -> None:
    narrow = {"privateCidrs": ["10.0.0.0/16"]}
    assert firewall([rule("10250", ["10.42.0.0/16"])]) == []
    assert firewall([rule("10250", ["172.16.0.0/16"])], config=narrow) != []


def test_unknown_rules_defer_to_the_update() -> None:
    # During preview the SDK turns this into an advisory "can't run during preview"; `up` re-checks.
    with pytest.raises(UnknownValueError):
        firewall(UNKNOWN)  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- UFW

PROD_UFW = """#!/usr/bin/env bash
# want SPEC COMMENT: SPEC is one rule as `ufw show added` prints it
want() {
  want_order+=("$1")
}

want 'allow from 198.51.100.0/24 to any port 22 proto tcp' 'SSH from admins and deployer'
want 'allow from 10.0.0.0/16 to any port 6443 proto tcp' 'Kubernetes API from admins, deployer, nodes'
want 'allow 80/tcp' 'HTTP to hostNetwork Traefik'
want 'allow from 10.0.0.0/16 to any port 2379:2380 proto tcp' 'etcd between servers'
want 'allow from 10.0.0.0/16 to any port 10250 proto tcp' 'kubelet API from nodes'
want 'allow from 10.0.0.0/16 to any port 8472 proto udp' 'flannel VXLAN between nodes'
want 'allow from 10.42.0.0/16' 'pods to this node'
want 'route allow from 10.42.0.0/16' 'forward pod traffic'
"""


def user_data(script: str) -> str:
    indented = "".join(f"    {line}\n" for line in script.splitlines())
    return f"#cloud-config\nwrite_files:\n- path: /usr/local/sbin/honeydue-firewall\n  content: |\n{indented}"


def ufw(script: str, where: str = "command") -> list[str]:
    if where == "command":
        args = resource_args(COMMAND, {"create": script}, name="honeydue-firewall-sync-1")
    else:
        args = resource_args(SERVER, {"userData": user_data(script)}, name="honeydue-1")
    return violations(POLICY, args)


@pytest.mark.parametrize("where", ["command", "server"])
def test_ufw_script_of_prod_passes(where: str) -> None:
    assert ufw(PROD_UFW, where) == []


@pytest.mark.parametrize(
    ("line", "opened"),
    [
        ("want 'allow 2379:2380/tcp' 'etcd'", "etcd 2379-2380/tcp to 0.0.0.0/0, ::/0"),
        ("want 'allow from 203.0.113.0/24 to any port 10250 proto tcp' 'kubelet'", "kubelet 10250/tcp"),
        ("want 'allow 8472/udp' 'vxlan'", "flannel VXLAN 8472/udp"),
        ("want 'allow from 198.51.100.0/24' 'operators, everything'", "etcd 2379-2380/tcp, kubelet 10250/tcp"),
        ("want 'allow to any' 'everything'", "flannel VXLAN 8472/udp"),
        ("want 'allow 2380' 'both protocols'", "etcd 2379-2380/tcp"),
    ],
)
@pytest.mark.parametrize("where", ["command", "server"])
def test_ufw_rule_opening_a_cluster_port_publicly_is_a_violation(line: str, opened: str, where: str) -> None:
    found = ufw(PROD_UFW + line + "\n", where)
    assert len(found) == 1 and opened in found[0], found


def test_ufw_unparseable_rule_line_is_a_violation() -> None:
    found = ufw(PROD_UFW + "want 'allow OpenSSH' 'app profile'\n")
    assert len(found) == 1 and "does not parse" in found[0]


def test_userdata_writing_the_script_without_readable_rules_is_a_violation() -> None:
    encoded = (
        "#cloud-config\nwrite_files:\n- path: /usr/local/sbin/honeydue-firewall\n  encoding: b64\n  content: IyEv\n"
    )
    found = violations(POLICY, resource_args(SERVER, {"userData": encoded}, name="honeydue-1"))
    assert len(found) == 1 and "no readable `want` rule line" in found[0]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("allow 22/tcp", (False, ("0.0.0.0/0", "::/0"), "tcp", ((22, 22),))),
        ("allow 80,443/tcp", (False, ("0.0.0.0/0", "::/0"), "tcp", ((80, 80), (443, 443)))),
        ("allow from 10.0.0.0/16 to any port 2379:2380 proto tcp", (False, ("10.0.0.0/16",), "tcp", ((2379, 2380),))),
        ("allow from 10.42.0.0/16", (False, ("10.42.0.0/16",), "any", ((1, 65535),))),
        ("route allow from 10.42.0.0/16", (True, ("10.42.0.0/16",), "any", ((1, 65535),))),
        ("allow in on enp7s0 from 10.0.0.0/16", (False, ("10.0.0.0/16",), "any", ((1, 65535),))),
    ],
)
def test_parse_ufw_rule(spec: str, expected: tuple[object, ...]) -> None:
    parsed = parse_ufw_rule(spec)
    assert parsed is not None
    assert (parsed.routed, parsed.sources, parsed.protocol, parsed.ports) == expected


def test_parse_ufw_rule_ignores_deny_and_rejects_nonsense() -> None:
    assert parse_ufw_rule("deny from 0.0.0.0/0") is None
    with pytest.raises(ValueError):
        parse_ufw_rule("allow from")
    with pytest.raises(ValueError):
        parse_ufw_rule("permit 22/tcp")
