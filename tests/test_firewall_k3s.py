"""The node firewall with K3s's own iptables rules loaded next to UFW, probed with real packets.

The lab (tests/netns_lab.py) applies the rendered firewall script, then adds what a K3s v1.34 server with
this stack's flags adds (tests/k3s_rules.py, each shape cited from upstream): kube-router's network-policy
chains with their jumps first in INPUT/FORWARD/OUTPUT and the ACCEPT of compliant traffic, kube-proxy
(IPVS, production's mode; and iptables mode with a NodePort DNATed to a pod), flannel's FLANNEL-FWD and
masquerade, the ipsets. The expected table is the README's ("Who reaches what on a node"): every cell is
a probe. A control run without the pre-filter chains shows that K3s's rules do bypass UFW, so the lab
has teeth. Needs root; skips elsewhere with the reason, fails when CI is set.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from components.firewall.node_rules import node_firewall_rules
from tests import k3s_rules, netns_lab
from tests.netns_lab import Lab, Probe
from tests.test_firewall_netns import (
    BEHIND_NODE_PORT,
    MATRIX,
    METADATA,
    NEW,
    TCP_PORTS,
    UDP_PORTS,
    _apply,
    _firewall_state,
    _why_not_runnable,
)

README = Path(__file__).resolve().parents[1] / "README.md"
APP_POD = k3s_rules.LabCluster().app_pod
NODE_PORT = k3s_rules.LabCluster().node_port
NODE = "192.0.2.2"

K3S_PROBES = (
    *(Probe(host="pod", label="app pod", src=APP_POD, dst="10.42.0.1", proto="tcp", port=port) for port in TCP_PORTS),
    *(Probe(host="pod", label="app pod", src=APP_POD, dst="10.42.0.1", proto="udp", port=port) for port in UDP_PORTS),
    *(Probe(host="pod", label="app pod -> internet", src=APP_POD, dst="192.0.2.50", proto="tcp", port=port, routed=True)
      for port in (443, BEHIND_NODE_PORT)),
    Probe(host="pod", label="app pod -> metadata", src=APP_POD, dst=METADATA, proto="tcp", port=80, routed=True),
    Probe(host="peer", label="pod on peer -> app pod", src="10.42.1.1", dst=APP_POD, proto="tcp", port=BEHIND_NODE_PORT,
          routed=True),
    Probe(host="inet", label="internet -> app pod", src="192.0.2.50", dst=APP_POD, proto="tcp", port=BEHIND_NODE_PORT,
          routed=True),
    # UFW's own before.rules accepts DHCP answers (udp 67 -> 68) from anywhere: Hetzner's public IPv4 is leased
    # by DHCP, and the server that answers is not an address we could pin. Only that exact pair passes.
    # (one probe may bind a source port at a time: the same pair from any other port is the next probe)
    Probe(host="inet", label="internet as DHCP server", src="192.0.2.50", dst=NODE, proto="udp", port=68, sport=67),
    Probe(host="inet", label="internet v4", src="192.0.2.50", dst=NODE, proto="udp", port=68),
)  # fmt: skip
K3S_MATRIX = (*MATRIX, *K3S_PROBES)


def readme_table() -> dict[str, set[str]]:
    """The README's table "Who reaches what on a node": label -> {"port/proto", ...}."""
    text = README.read_text()
    block = re.search(r"<!-- firewall-table:begin -->\n(.*?)<!-- firewall-table:end -->", text, re.S)
    assert block, "README.md lacks the firewall table markers"
    table: dict[str, set[str]] = {}
    for line in block.group(1).splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or cells[0] in ("source", "") or set(cells[0]) <= {"-"}:
            continue
        label = cells[0].strip("`")
        assert label not in table, f"README firewall table lists {label!r} twice"
        reached = cells[2].replace("`", "")
        table[label] = set() if reached == "nothing" else {p.strip() for p in reached.split(",")}
    return table


def test_every_cell_of_the_readme_table_is_a_probe() -> None:
    table = readme_table()
    probed: dict[str, set[str]] = {}
    for p in K3S_MATRIX:
        probed.setdefault(p.label, set()).add(f"{p.port}/{p.proto}")
    unprobed, unlisted = set(table) - set(probed), set(probed) - set(table)
    assert not unprobed and not unlisted, f"rows without probes: {unprobed}; probes without a row: {unlisted}"
    for label, cells in table.items():
        assert cells <= probed[label], f"{label}: {cells - probed[label]} listed but never probed"


@pytest.fixture
def k3s_lab() -> Iterator[Lab]:
    reason = _why_not_runnable()
    if reason is None and not netns_lab.shutil.which("ipset"):
        reason = "missing tools: ipset (make system-deps)"
    if reason:
        if netns_lab.os.environ.get("CI"):
            pytest.fail(f"CI must run the K3s firewall lab: {reason}")
        pytest.skip(reason)
    before = netns_lab.host_snapshot()
    with Lab() as the_lab:
        the_lab.listen("node", tcp=TCP_PORTS, udp=(*UDP_PORTS, 68))
        the_lab.listen("inet", tcp=(BEHIND_NODE_PORT, 80, 443))
        the_lab.listen("pod", tcp=(BEHIND_NODE_PORT,))
        yield the_lab
    assert netns_lab.host_snapshot() == before, "the host's /etc/ufw or netfilter rules changed"


def _run(lab: Lab) -> k3s_rules.Run:
    return lambda argv: lab.exec("node", argv).stdout


def _wrong(lab: Lab, probes: tuple[Probe, ...], table: Mapping[str, set[str]]) -> list[str]:
    observed = lab.probe(probes)
    return [
        f"{p.label:<28} {p.src + ':' + str(p.sport or '*') + ' -> ' + p.dst:<38} {p.port}/{p.proto:<4} "
        f"expected {'open' if f'{p.port}/{p.proto}' in table.get(p.label, set()) else 'closed'}"
        for p in probes
        if observed[p] != (f"{p.port}/{p.proto}" in table.get(p.label, set()))
    ]


def _flush_prefilter(lab: Lab) -> None:
    for tool in ("iptables", "ip6tables"):
        for line in lab.exec("node", [tool, "-w", "-t", "mangle", "-S"]).stdout.splitlines():
            if line.startswith("-A ") and " -j honeydue-" in line:
                lab.exec("node", [tool, "-w", "-t", "mangle", *line.replace("-A ", "-D ", 1).split()])


def _find(label: str, proto: str, port: int) -> Probe:
    return next(p for p in K3S_MATRIX if (p.label, p.proto, p.port) == (label, proto, port))


# Each place a rule can hide, with a hand-added opening: (what, how, the probe it opens).
_BEFORE = "-A ufw-before-input -p tcp --dport 2222 -j ACCEPT"
_BEFORE6 = "-A ufw6-before-input -p tcp --dport 2222 -j ACCEPT"
_AFTER = "-A ufw-after-input -p tcp --dport 5432 -j ACCEPT"
_AFTER6 = "-A ufw6-after-input -p tcp --dport 5432 -j ACCEPT"
_LIVE = (
    ("filter INPUT", ["iptables", "-w", "-I", "INPUT", "1", "-p", "tcp", "--dport", "8080", "-j", "ACCEPT"]),
    ("a UFW chain", ["iptables", "-w", "-I", "ufw-before-input", "1", "-p", "tcp", "--dport", "9100", "-j", "ACCEPT"]),
    ("nat PREROUTING", ["iptables", "-w", "-t", "nat", "-I", "PREROUTING", "1", "-p", "tcp", "--dport", "2380",
                        "-j", "DNAT", "--to-destination", f"10.42.0.5:{BEHIND_NODE_PORT}"]),
    ("mangle PREROUTING", ["iptables", "-w", "-t", "mangle", "-I", "PREROUTING", "1", "-j", "ACCEPT"]),
    # What a reload overlapped by kube-router's whole-table restore can leave behind (iptables.go:241-248).
    ("the INPUT policy", ["iptables", "-w", "-P", "INPUT", "ACCEPT"]),
)  # fmt: skip


def _edit_rules_file(lab: Lab, name: str, line: str) -> None:
    path = lab.etc_ufw / name
    text = path.read_text()
    anchor = "# End required lines\n" if name.startswith("before") else "COMMIT\n"
    path.write_text(text.replace(anchor, f"{anchor}{line}\n", 1) if anchor.startswith("#") else
                    text.replace(anchor, f"{line}\n{anchor}", 1))  # fmt: skip


def test_with_k3s_ipvs_rules_every_cell_of_the_readme_table_holds_and_drift_is_removed(k3s_lab: Lab) -> None:
    rules = node_firewall_rules(NEW)
    _apply(k3s_lab, rules)
    k3s_rules.load(_run(k3s_lab), "ipvs")

    # Control: without the pre-filter chains, K3s's ACCEPTs pass what UFW drops.
    _flush_prefilter(k3s_lab)
    bypass = [_find("pod -> metadata", "tcp", 80), _find("local pod", "tcp", 22), _find("local pod", "tcp", 2379),
              _find("internet -> local pod", "tcp", BEHIND_NODE_PORT)]  # fmt: skip
    observed = k3s_lab.probe(bypass)
    assert all(observed.values()), f"K3s's rules no longer bypass UFW in the lab: {observed}"

    # The stack's sync run (the script is idempotent), then kube-router's next sync puts its jumps back on top.
    out = _apply(k3s_lab, rules)
    assert "pre-filter chain" in out and "0 foreign rules removed" in out, out
    k3s_rules.sync(_run(k3s_lab))
    table = readme_table()
    wrong = _wrong(k3s_lab, K3S_MATRIX, table)
    assert not wrong, f"{len(wrong)} of {len(K3S_MATRIX)} probes disagree with the README's table:\n" + "\n".join(wrong)

    # Another run changes nothing, K3s's rules included.
    state = _firewall_state(k3s_lab)
    again = _apply(k3s_lab, rules)
    assert "0 added or updated, 0 removed" in again and "pre-filter chain" not in again, again
    assert _firewall_state(k3s_lab) == state

    # A hand-added opening in every place a rule can hide is removed by the next run; K3s's rules stay.
    for name, line in (("before.rules", _BEFORE), ("before6.rules", _BEFORE6), ("after.rules", _AFTER),
                       ("after6.rules", _AFTER6)):  # fmt: skip
        _edit_rules_file(k3s_lab, name, line)
    (k3s_lab.etc_ufw / "after.init").write_text("#!/bin/sh\niptables -w -I INPUT 1 -p tcp --dport 9100 -j ACCEPT\n")
    (k3s_lab.etc_ufw / "after.init").chmod(0o750)
    k3s_lab.node_ufw(["ufw", "reload"])
    for _, argv in _LIVE:
        k3s_lab.exec("node", argv)
    opened = (
        Probe(host="inet", label="internet v4", src="192.0.2.50", dst="192.0.2.2", proto="tcp", port=2222),
        Probe(host="inet", label="internet v6", src="2001:db8:50::50", dst="2001:db8:1::2", proto="tcp", port=2222),
        Probe(host="inet", label="internet v4", src="192.0.2.50", dst="192.0.2.2", proto="tcp", port=5432),
        Probe(host="inet", label="internet v6", src="2001:db8:50::50", dst="2001:db8:1::2", proto="tcp", port=5432),
        Probe(host="inet", label="internet v4", src="192.0.2.50", dst="192.0.2.2", proto="tcp", port=8080),
        Probe(host="inet", label="internet v4", src="192.0.2.50", dst="192.0.2.2", proto="tcp", port=9100),
        Probe(host="inet", label="internet v4", src="192.0.2.50", dst="192.0.2.2", proto="tcp", port=2380),
        Probe(host="pod", label="pod -> metadata", src="10.42.0.5", dst=METADATA, proto="tcp", port=80, routed=True),
        Probe(host="inet", label="internet v4", src="192.0.2.50", dst="192.0.2.2", proto="tcp", port=10250),
    )
    # With ufw's MANAGE_BUILTINS=yes a reload would flush every built-in chain (K3s's jumps, the pre-filter's).
    defaults = k3s_lab.etc_default / "ufw"
    defaults.write_text(defaults.read_text().replace("MANAGE_BUILTINS=no", "MANAGE_BUILTINS=yes"))
    before = k3s_lab.probe(opened)
    assert all(before.values()), f"the lab's hand-added openings do not open: {before}"

    out = _apply(k3s_lab, rules)
    for name in ("before6.rules", "after.rules", "after6.rules", "after.init"):
        assert f"/etc/ufw/{name} differed from the package's: restored" in out, out
    for what, argv in _LIVE:
        table = argv[3] if argv[2] == "-t" else "filter"
        # inside UFW's chains or its policy: repaired by the reload the drift triggers
        repaired = what in ("a UFW chain", "the INPUT policy")
        assert repaired or f"removed a rule no one owns: iptables -t {table}" in out, (what, out)
    assert "\nMANAGE_BUILTINS=no\n" in defaults.read_text()
    after = k3s_lab.probe(opened)
    assert not any(after.values()), f"still open after the run: {[p for p, ok in after.items() if ok]}"
    # K3s's own rules are left alone: kube-router's jumps and its explicit ACCEPT, kube-proxy's, flannel's.
    live = k3s_lab.exec("node", ["iptables", "-w", "-S"]).stdout
    for kept in ("-j KUBE-ROUTER-INPUT", "-j KUBE-ROUTER-FORWARD", "-j KUBE-IPVS-FILTER", "-j FLANNEL-FWD",
                 k3s_rules.EXPLICIT_ACCEPT):  # fmt: skip
        assert kept in live, f"{kept} was removed"


def test_with_k3s_iptables_mode_nodeports_stay_closed_and_a_ufw_restart_restores_the_prefilter(k3s_lab: Lab) -> None:
    rules = node_firewall_rules(NEW)
    _apply(k3s_lab, rules)
    k3s_rules.load(_run(k3s_lab), "iptables")
    nodeport = tuple(
        Probe(host=host, label=label, src=src, dst=dst, proto="tcp", port=NODE_PORT)
        for host, label, src, dst in (
            ("inet", "internet v4", "192.0.2.50", "192.0.2.2"),
            ("cf", "cloudflare-new v4", "203.0.113.200", "192.0.2.2"),
            ("peer", "peer node v4", "10.0.1.20", "10.0.1.10"),
            ("pod", "local pod", "10.42.0.5", "10.42.0.1"),
        )
    )
    _flush_prefilter(k3s_lab)
    assert k3s_lab.probe(nodeport)[nodeport[0]], "kube-proxy's DNAT and KUBE-FORWARD no longer open the NodePort"
    # Whenever UFW starts (boot, enable, reload), its before.init hook puts the pre-filter chains back.
    k3s_lab.node_ufw(["ufw", "reload"])
    assert "-j honeydue-pre-" in k3s_lab.exec("node", ["iptables", "-w", "-t", "mangle", "-S", "PREROUTING"]).stdout
    k3s_rules.sync(_run(k3s_lab))
    observed = k3s_lab.probe(nodeport)
    assert not any(observed.values()), f"a NodePort is reachable in iptables mode: {observed}"
