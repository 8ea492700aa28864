"""The rendered UFW script applied for real in network namespaces and probed with real packets.

The expected outcome of every probe comes from the rule model (`permits`), so the matrix checks that
UFW enforces exactly what `node_firewall_rules` says. Needs root (namespaces, mounts, netfilter):
skips with a reason elsewhere, fails when CI is set.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator, Sequence
from typing import Literal

import pytest

from components.firewall.rules import FirewallPolicy, FirewallRule, node_firewall_rules, permits, render_ufw_script
from tests import netns_lab
from tests.netns_lab import Lab, Probe

TOOLS = ("ip", "ufw", "unshare", "mount", "iptables-save", "ip6tables-save")
# Every port the policy names, plus ones that must stay closed: Traefik's own 8080/9100, a NodePort,
# and ports nobody opened (2222, 5432, 53/udp).
TCP_PORTS = (22, 80, 443, 2222, 2379, 2380, 5432, 6443, 8080, 9100, 10250, 30080)
UDP_PORTS = (53, 8472, 30080, 51820, 51821)
BEHIND_NODE_PORT = 8000

CLOUDFLARE_OLD = ("203.0.113.0/25", "2001:db8:c0::/48")
CLOUDFLARE_NEW = ("203.0.113.128/25", "2001:db8:c1::/48")

# (label, namespace, source address, node address it targets)
SOURCES = (
    ("admin v4", "admin", "198.51.100.10", "192.0.2.2"),
    ("admin v6", "admin", "2001:db8:100::10", "2001:db8:1::2"),
    ("cloudflare-old v4", "cf", "203.0.113.10", "192.0.2.2"),
    ("cloudflare-old v6", "cf", "2001:db8:c0::10", "2001:db8:1::2"),
    ("cloudflare-new v4", "cf", "203.0.113.200", "192.0.2.2"),
    ("cloudflare-new v6", "cf", "2001:db8:c1::10", "2001:db8:1::2"),
    ("internet v4", "inet", "192.0.2.50", "192.0.2.2"),
    ("internet v6", "inet", "2001:db8:50::50", "2001:db8:1::2"),
    ("peer node v4", "peer", "10.0.1.20", "10.0.1.10"),
    ("peer node v6", "peer", "2001:db8:10::20", "2001:db8:10::10"),
    ("pod on peer", "peer", "10.42.1.1", "10.0.1.10"),
    ("local pod", "pod", "10.42.0.5", "10.42.0.1"),
)
# Forwarded through the node: (label, namespace, source, destination behind/through the node).
ROUTED = (
    ("local pod -> internet", "pod", "10.42.0.5", "192.0.2.50"),
    ("internet -> local pod", "inet", "192.0.2.50", "10.42.0.5"),
    ("admin -> local pod", "admin", "198.51.100.10", "10.42.0.5"),
    ("peer node -> local pod", "peer", "10.0.1.20", "10.42.0.5"),
    ("pod on peer -> local pod", "peer", "10.42.1.1", "10.42.0.5"),
)


def _matrix() -> tuple[Probe, ...]:
    to_node = [
        Probe(host=host, label=label, src=src, dst=dst, proto=proto, port=port)
        for label, host, src, dst in SOURCES
        for proto, ports in (("tcp", TCP_PORTS), ("udp", UDP_PORTS))
        for port in ports
    ]
    routed = [
        Probe(host=host, label=label, src=src, dst=dst, proto="tcp", port=BEHIND_NODE_PORT, routed=True)
        for label, host, src, dst in ROUTED
    ]
    return (*to_node, *routed)


MATRIX = _matrix()


def _policy(*, web_sources: tuple[str, ...] | None, wireguard: bool) -> FirewallPolicy:
    return FirewallPolicy(
        admin_cidrs=("198.51.100.10/32", "2001:db8:100::/64"),
        deployer_cidrs=("192.0.2.77/32",),
        private_network_cidr="10.0.0.0/16",
        cluster_cidr="10.42.0.0/16",
        service_cidr="10.43.0.0/16",
        web_sources=web_sources,
        wireguard=wireguard,
    )


def _why_not_runnable() -> str | None:
    if os.geteuid() != 0:
        return "needs root: network namespaces, bind mounts and netfilter"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"missing tools: {', '.join(missing)} (make system-deps)"
    return None


@pytest.fixture
def lab() -> Iterator[Lab]:
    reason = _why_not_runnable()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the firewall netns test: {reason}")
        pytest.skip(reason)
    before = netns_lab.host_snapshot()
    with Lab() as the_lab:
        the_lab.listen("node", tcp=TCP_PORTS, udp=UDP_PORTS)
        the_lab.listen("inet", tcp=(BEHIND_NODE_PORT,))
        the_lab.listen("pod", tcp=(BEHIND_NODE_PORT,))
        yield the_lab
    leftover = set(the_lab.ns.values()) & set(netns_lab.run(["ip", "netns", "list"]).stdout.split())
    assert not leftover, f"namespaces left behind: {leftover}"
    assert netns_lab.host_snapshot() == before, "the host's /etc/ufw or netfilter rules changed"


def _apply(lab: Lab, rules: Sequence[FirewallRule]) -> str:
    script = lab.tmp / "ufw-apply.sh"
    script.write_text(render_ufw_script(rules))
    return lab.node_ufw(["bash", str(script)], timeout=60.0).stdout


def _firewall_state(lab: Lab) -> str:
    """Everything a second run must leave identical: ufw's view, its rules files, the live chains."""
    command = (
        "ufw show added; ufw status verbose; cat /etc/ufw/user.rules /etc/ufw/user6.rules /etc/default/ufw;"
        " iptables-save; ip6tables-save"
    )
    out = lab.node_ufw(["sh", "-c", command]).stdout
    # Packet counters on chain lines and the "# Generated ... on <date>" lines change by themselves.
    return "\n".join(re.sub(r"\[\d+:\d+\]", "", line) for line in out.splitlines() if not line.startswith("# "))


def _expected(rules: Sequence[FirewallRule], probe: Probe) -> bool:
    protocol: Literal["tcp", "udp"] = "tcp" if probe.proto == "tcp" else "udp"
    return permits(rules, source=probe.src, protocol=protocol, port=probe.port, routed=probe.routed)


def _assert_matrix(lab: Lab, rules: Sequence[FirewallRule], probes: Sequence[Probe] = MATRIX) -> dict[Probe, bool]:
    observed = lab.probe(probes)
    wrong = [p for p in probes if observed[p] != _expected(rules, p)]
    if wrong:
        rows = [f"{'source':<26} {'src -> dst':<42} {'port':<11} expected observed"]
        rows += [
            f"{p.label:<26} {p.src + ' -> ' + p.dst:<42} {f'{p.port}/{p.proto}':<11} "
            f"{'open' if _expected(rules, p) else 'closed':<8} {'open' if observed[p] else 'closed'}"
            for p in wrong
        ]
        pytest.fail(f"{len(wrong)} of {len(probes)} probes disagree with the rule model:\n" + "\n".join(rows))
    return observed


def _find(label: str, proto: str, port: int) -> Probe:
    return next(p for p in MATRIX if (p.label, p.proto, p.port) == (label, proto, port))


def test_matrix_is_large_and_covers_both_families() -> None:
    families = {":" in p.dst for p in MATRIX}
    assert len(MATRIX) >= 40 and families == {True, False}


def test_script_enforces_the_rule_model_and_is_idempotent(lab: Lab) -> None:
    baseline = lab.probe(MATRIX)
    unreachable = [p for p in MATRIX if not baseline[p]]
    assert not unreachable, f"lab broken: unreachable without a firewall: {unreachable[:5]}"

    rules = node_firewall_rules(_policy(web_sources=CLOUDFLARE_OLD, wireguard=True))
    wanted = sum(line.startswith("want ") for line in render_ufw_script(rules).splitlines())
    first = _apply(lab, rules)
    assert f"ufw-apply: {wanted} added or updated, 0 removed, {wanted} wanted, active" in first, first
    defaults = (lab.etc_default / "ufw").read_text()
    # The fresh node came with IPV6=no and routed ACCEPT; the script must have fixed both.
    assert "\nIPV6=yes\n" in defaults and '\nDEFAULT_FORWARD_POLICY="DROP"\n' in defaults
    observed = _assert_matrix(lab, rules)
    assert any(observed.values()) and not all(observed.values())

    state = _firewall_state(lab)
    second = _apply(lab, rules)
    assert "ufw-apply: 0 added or updated, 0 removed" in second, second
    assert _firewall_state(lab) == state
    _assert_matrix(lab, rules)


def test_script_converges_without_an_open_window(lab: Lab) -> None:
    old = node_firewall_rules(_policy(web_sources=CLOUDFLARE_OLD, wireguard=True))
    new = node_firewall_rules(_policy(web_sources=CLOUDFLARE_NEW, wireguard=False))
    _apply(lab, old)

    must_stay_open = [_find("admin v4", "tcp", 22), _find("admin v6", "tcp", 22)]
    must_stay_closed = [_find(f"internet {f}", "tcp", port) for f in ("v4", "v6") for port in (22, 8080, 10250)]
    watch = lab.watch([*must_stay_open, *must_stay_closed])
    time.sleep(0.5)
    out = _apply(lab, new)
    time.sleep(0.5)
    seen = watch.stop()
    assert re.search(r"ufw-apply: [1-9]\d* added or updated, [1-9]\d* removed", out), out
    for p in must_stay_open:
        assert seen[p][0] > 0 and seen[p][1] == 0, f"{p.label} lost {p.port}/{p.proto} during convergence: {seen[p]}"
    for p in must_stay_closed:
        assert seen[p][0] == 0, f"{p.label} reached {p.port}/{p.proto} during convergence: {seen[p]}"

    observed = _assert_matrix(lab, new)
    for family in ("v4", "v6"):
        assert not observed[_find(f"cloudflare-old {family}", "tcp", 443)], "stale Cloudflare range kept access"
        assert observed[_find(f"cloudflare-new {family}", "tcp", 443)], "new Cloudflare range got no access"
    assert not observed[_find("peer node v4", "udp", 51820)], "WireGuard port stayed open after turning it off"

    # Lockdown off renders ufw's short dual-stack form (`allow 80/tcp`): converge to it, then re-run.
    anywhere = node_firewall_rules(_policy(web_sources=None, wireguard=False))
    _apply(lab, anywhere)
    _assert_matrix(lab, anywhere)
    assert "ufw-apply: 0 added or updated, 0 removed" in _apply(lab, anywhere)
