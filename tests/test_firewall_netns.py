"""The rendered UFW script applied for real in network namespaces and probed with real packets.

The expected outcome of every probe is a literal table written from the policy below (who may reach
what), not derived from the rule model under test: a mistake in the model shows up as a disagreement.
Forged sources (a private node address, a pod address arriving on the public NIC) can't complete a
handshake, so for them the test counts what got past the filter table (tests/netns_lab.py). Needs
root (namespaces, mounts, netfilter): skips with a reason elsewhere, fails when CI is set.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator, Mapping, Sequence

import pytest

from components.firewall.node_rules import node_firewall_rules
from components.firewall.rules import FirewallPolicy, FirewallRule
from components.firewall.ufw import render_ufw_script
from tests import netns_lab
from tests.netns_lab import Lab, Probe

TOOLS = ("ip", "ufw", "unshare", "mount", "iptables-save", "ip6tables-save", "setpriv")
# Every port the policy names, plus ones that must stay closed: Traefik's own 8080/9100, a NodePort,
# and ports nobody opened (2222, 5432, 53/udp).
TCP_PORTS = (22, 80, 443, 2222, 2379, 2380, 5432, 6443, 8080, 9100, 10250, 30080)
UDP_PORTS = (53, 8472, 30080, 51820, 51821)
BEHIND_NODE_PORT = 8000
METADATA = "169.254.169.254"
HOSTNETWORK_UID = 65532  # Traefik's uid in K3s' chart

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
    # A remote pod's packet to the node's private address is masqueraded by flannel in a real
    # cluster; unmasqueraded on the private NIC it is a forgery and must match nothing.
    ("pod source on private NIC", "peer", "10.42.1.1", "10.0.1.10"),
    ("local pod", "pod", "10.42.0.5", "10.42.0.1"),
    ("local pod to Service IP", "pod", "10.42.0.5", "10.43.0.10"),
    ("forged private src to public addr", "inet", "10.0.1.99", "192.0.2.2"),
    ("forged private src to private addr", "inet", "10.0.1.99", "10.0.1.10"),
    ("forged pod src to public addr", "inet", "10.42.9.9", "192.0.2.2"),
)
# Forwarded through the node: (label, namespace, source, destination behind/through the node).
ROUTED = (
    ("local pod -> internet", "pod", "10.42.0.5", "192.0.2.50"),
    ("internet -> local pod", "inet", "192.0.2.50", "10.42.0.5"),
    ("admin -> local pod", "admin", "198.51.100.10", "10.42.0.5"),
    ("peer node -> local pod", "peer", "10.0.1.20", "10.42.0.5"),
    ("pod on peer -> local pod", "peer", "10.42.1.1", "10.42.0.5"),
    ("forged pod src -> local pod", "inet", "10.42.9.9", "10.42.0.5"),
)
METADATA_PROBES = (
    Probe(host="pod", label="pod -> metadata", src="10.42.0.5", dst=METADATA, proto="tcp", port=80, routed=True),
    Probe(host="node", label="node root -> metadata", src="192.0.2.2", dst=METADATA, proto="tcp", port=80),
    Probe(
        host="node",
        label="node hostNetwork uid -> metadata",
        src="192.0.2.2",
        dst=METADATA,
        proto="tcp",
        port=80,
        uid=HOSTNETWORK_UID,
    ),
)
FORGED = {"forged-private": "-s 10.0.1.99", "forged-pod": "-s 10.42.9.9"}

# ---- the policy, written out by hand ----------------------------------------------------------------
# "port/proto" a source reaches; every probe not listed must be closed. Policy: admins 198.51.100.10/32
# and 2001:db8:100::/64 get SSH and the API; Cloudflare (when locked down) 80/443; peers on the
# private network the API, etcd, kubelet, VXLAN (+WireGuard); local pods Traefik, the API, the kubelet
# and every Service IP; pods are forwarded from the bridge and the tunnel; nothing else, ever.
ALL_PORTS = {f"{p}/tcp" for p in TCP_PORTS} | {f"{p}/udp" for p in UDP_PORTS}
OPEN_OLD: Mapping[str, set[str]] = {
    "admin v4": {"22/tcp", "6443/tcp"},
    "admin v6": {"22/tcp", "6443/tcp"},
    "cloudflare-old v4": {"80/tcp", "443/tcp"},
    "cloudflare-old v6": {"80/tcp", "443/tcp"},
    "peer node v4": {"2379/tcp", "2380/tcp", "6443/tcp", "10250/tcp", "8472/udp", "51820/udp", "51821/udp"},
    "local pod": {"80/tcp", "443/tcp", "6443/tcp", "10250/tcp"},
    "local pod to Service IP": ALL_PORTS,
    "local pod -> internet": {"8000/tcp"},
    "pod on peer -> local pod": {"8000/tcp"},
    "node root -> metadata": {"80/tcp"},
}
OPEN_NEW: Mapping[str, set[str]] = {
    "admin v4": {"22/tcp", "6443/tcp"},
    "admin v6": {"22/tcp", "6443/tcp"},
    "cloudflare-new v4": {"80/tcp", "443/tcp"},
    "cloudflare-new v6": {"80/tcp", "443/tcp"},
    "peer node v4": {"2379/tcp", "2380/tcp", "6443/tcp", "10250/tcp", "8472/udp"},
    "local pod": {"80/tcp", "443/tcp", "6443/tcp", "10250/tcp"},
    "local pod to Service IP": ALL_PORTS,
    "local pod -> internet": {"8000/tcp"},
    "pod on peer -> local pod": {"8000/tcp"},
    "node root -> metadata": {"80/tcp"},
}
OPEN_ANYWHERE: Mapping[str, set[str]] = {
    "admin v4": {"22/tcp", "6443/tcp", "80/tcp", "443/tcp"},
    "admin v6": {"22/tcp", "6443/tcp", "80/tcp", "443/tcp"},
    "cloudflare-old v4": {"80/tcp", "443/tcp"},
    "cloudflare-old v6": {"80/tcp", "443/tcp"},
    "cloudflare-new v4": {"80/tcp", "443/tcp"},
    "cloudflare-new v6": {"80/tcp", "443/tcp"},
    "internet v4": {"80/tcp", "443/tcp"},
    "internet v6": {"80/tcp", "443/tcp"},
    # "Anywhere" is every source on every interface, but a pod source reaches the node only from the pod
    # bridge (the pre-filter chain): remote pods arrive masqueraded, so one on the private NIC is forged.
    "peer node v4": {"80/tcp", "443/tcp", "2379/tcp", "2380/tcp", "6443/tcp", "10250/tcp", "8472/udp"},
    "peer node v6": {"80/tcp", "443/tcp"},
    "local pod": {"80/tcp", "443/tcp", "6443/tcp", "10250/tcp"},
    "local pod to Service IP": ALL_PORTS,
    "local pod -> internet": {"8000/tcp"},
    "pod on peer -> local pod": {"8000/tcp"},
    "node root -> metadata": {"80/tcp"},
}
# A node whose firewall failed to apply at first boot: closed, admins keep SSH; the pre-filter chains,
# installed before UFW is touched, already keep non-root processes off the metadata service.
OPEN_FAILED_CLOSED: Mapping[str, set[str]] = {
    "admin v4": {"22/tcp"},
    "admin v6": {"22/tcp"},
    "node root -> metadata": {"80/tcp"},
}


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
    return (*to_node, *routed, *METADATA_PROBES)


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


OLD = _policy(web_sources=CLOUDFLARE_OLD, wireguard=True)
NEW = _policy(web_sources=CLOUDFLARE_NEW, wireguard=False)
ANYWHERE = _policy(web_sources=None, wireguard=False)


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
        the_lab.listen("inet", tcp=(BEHIND_NODE_PORT, 80))
        the_lab.listen("pod", tcp=(BEHIND_NODE_PORT,))
        the_lab.count_arrivals(list(FORGED.items()))
        yield the_lab
    leftover = set(the_lab.ns.values()) & set(netns_lab.run(["ip", "netns", "list"]).stdout.split())
    assert not leftover, f"namespaces left behind: {leftover}"
    assert netns_lab.host_snapshot() == before, "the host's /etc/ufw or netfilter rules changed"


def _script(rules: Sequence[FirewallRule], extra: str = "") -> str:
    text = render_ufw_script(rules)
    # `extra` lands after the rendered lines: a rule the model would never render, to make ufw fail.
    return text.replace("\nadded_count=0\n", f"\n{extra}added_count=0\n", 1) if extra else text


def _apply(lab: Lab, rules: Sequence[FirewallRule], *args: str, extra: str = "", check: bool = True) -> str:
    script = lab.tmp / "ufw-apply.sh"
    script.write_text(_script(rules, extra))
    proc = lab.node_ufw([*_installed_at(script), "bash", str(script), *args], timeout=90.0, check=check)
    return proc.stdout + proc.stderr


def _installed_at(script: object) -> list[str]:
    """The lab's copy stands where a node keeps the script: UFW's start hook runs it (--pre-filter)."""
    return ["env", f"HONEYDUE_FIREWALL_PATH={script}"]


def _firewall_state(lab: Lab) -> str:
    """Everything a second run must leave identical: ufw's view, its rules files, the live chains."""
    command = (
        "ufw show added; ufw status verbose; cat /etc/ufw/user.rules /etc/ufw/user6.rules /etc/default/ufw"
        " /etc/ufw/before.rules; iptables-save; ip6tables-save"
    )
    out = lab.node_ufw(["sh", "-c", command]).stdout
    # Packet counters on chain lines and the "# Generated ... on <date>" lines change by themselves.
    return "\n".join(re.sub(r"\[\d+:\d+\]", "", line) for line in out.splitlines() if not line.startswith("# "))


def _guard_chains(lab: Lab) -> str:
    return "".join(lab.exec("node", [tool, "-t", "mangle", "-S"]).stdout for tool in ("iptables", "ip6tables"))


def _expected(table: Mapping[str, set[str]], probe: Probe) -> bool:
    return f"{probe.port}/{probe.proto}" in table.get(probe.label, set())


def _assert_matrix(lab: Lab, table: Mapping[str, set[str]]) -> dict[Probe, bool]:
    observed = lab.probe(MATRIX)
    wrong = [p for p in MATRIX if observed[p] != _expected(table, p)]
    if wrong:
        rows = [f"{'source':<36} {'src -> dst':<42} {'port':<11} expected observed"]
        rows += [
            f"{p.label:<36} {p.src + ' -> ' + p.dst:<42} {f'{p.port}/{p.proto}':<11} "
            f"{'open' if _expected(table, p) else 'closed':<8} {'open' if observed[p] else 'closed'}"
            for p in wrong
        ]
        pytest.fail(f"{len(wrong)} of {len(MATRIX)} probes disagree with the policy:\n" + "\n".join(rows))
    return observed


def _zero_counters(lab: Lab) -> None:
    lab.exec("node", ["iptables", "-w", "-t", "security", "-Z"])


def _find(label: str, proto: str, port: int) -> Probe:
    return next(p for p in MATRIX if (p.label, p.proto, p.port) == (label, proto, port))


def test_matrix_is_large_and_every_table_names_only_real_probes() -> None:
    families = {":" in p.dst for p in MATRIX}
    assert len(MATRIX) >= 200 and families == {True, False}
    labels = {p.label for p in MATRIX}
    for table in (OPEN_OLD, OPEN_NEW, OPEN_ANYWHERE, OPEN_FAILED_CLOSED):
        assert set(table) <= labels, set(table) - labels


def _watch_set() -> tuple[list[Probe], list[Probe]]:
    must_stay_open = [_find("admin v4", "tcp", 22), _find("admin v6", "tcp", 22)]
    must_stay_closed = [
        *(_find(f"internet {f}", "tcp", port) for f in ("v4", "v6") for port in (22, 2222, 8080, 10250)),
        _find("pod source on private NIC", "tcp", 2379),
        _find("internet -> local pod", "tcp", BEHIND_NODE_PORT),
    ]
    return must_stay_open, must_stay_closed


def _assert_watch(seen: dict[Probe, tuple[int, int]], must_stay_open: list[Probe], closed: list[Probe]) -> None:
    for p in must_stay_open:
        assert seen[p][0] > 0, f"{p.label} never reached {p.port}/{p.proto}: {seen[p]}"
    for p in closed:
        assert seen[p][0] == 0, f"{p.label} reached {p.port}/{p.proto} ({p.dst}) while the firewall changed: {seen[p]}"


def test_script_enforces_the_policy_drops_forgeries_and_converges_without_an_open_window(lab: Lab) -> None:
    baseline = lab.probe(MATRIX)
    # Without a firewall everything answers but forgeries (no way back to a forged source).
    unreachable = [p for p in MATRIX if not baseline[p] and not p.label.startswith("forged")]
    assert not unreachable, f"lab broken: unreachable without a firewall: {unreachable[:5]}"
    counted = lab.arrivals()
    assert counted["forged-private"] > 0 and counted["forged-pod"] > 0, f"counters see nothing: {counted}"

    rules = node_firewall_rules(OLD)
    wanted = sum(line.startswith("want ") for line in render_ufw_script(rules).splitlines())
    first = _apply(lab, rules)
    assert f"ufw-apply: {wanted} added or updated, 0 removed, {wanted} wanted, active" in first, first
    defaults = (lab.etc_default / "ufw").read_text()
    # The fresh node came with IPV6=no and routed ACCEPT; the script must have fixed both.
    assert "\nIPV6=yes\n" in defaults and '\nDEFAULT_FORWARD_POLICY="DROP"\n' in defaults
    assert "honeydue-guard" not in _guard_chains(lab), "the guard stayed up after a successful apply"
    assert "in on priv0" in lab.node_ufw(["ufw", "show", "added"]).stdout
    _zero_counters(lab)
    _assert_matrix(lab, OPEN_OLD)
    assert lab.arrivals() == {"forged-private": 0, "forged-pod": 0}

    # From the old policy to the new: what must stay open never closes, what must stay closed never opens.
    must_stay_open, must_stay_closed = _watch_set()
    watch = lab.watch([*must_stay_open, *must_stay_closed])
    time.sleep(0.5)
    out = _apply(lab, node_firewall_rules(NEW))
    time.sleep(0.5)
    seen = watch.stop()
    assert re.search(r"ufw-apply: [1-9]\d* added or updated, [1-9]\d* removed", out), out
    _assert_watch(seen, must_stay_open, must_stay_closed)
    for p in must_stay_open:
        assert seen[p][1] == 0, f"{p.label} lost {p.port}/{p.proto} during convergence: {seen[p]}"
    _assert_matrix(lab, OPEN_NEW)

    # Lockdown off renders ufw's short dual-stack form (`allow 80/tcp`): converge to it, then re-run.
    anywhere = node_firewall_rules(ANYWHERE)
    _apply(lab, anywhere)
    _assert_matrix(lab, OPEN_ANYWHERE)
    assert "ufw-apply: 0 added or updated, 0 removed" in _apply(lab, anywhere)


def _drift(lab: Lab) -> None:
    """What a hand edit or a package upgrade does: defaults changed, our before.rules block gone."""
    defaults = lab.etc_default / "ufw"
    text = re.sub(r"(?m)^IPV6=.*$", "IPV6=no", defaults.read_text())
    defaults.write_text(re.sub(r"(?m)^DEFAULT_INPUT_POLICY=.*$", 'DEFAULT_INPUT_POLICY="ACCEPT"', text))
    before = lab.etc_ufw / "before.rules"
    before.write_text(re.sub(r"(?s)# BEGIN honeydue-firewall\n.*?# END honeydue-firewall\n", "", before.read_text()))


def test_drift_reload_path_stays_closed(lab: Lab) -> None:
    rules = node_firewall_rules(OLD)
    _apply(lab, rules)
    _drift(lab)
    must_stay_open, must_stay_closed = _watch_set()
    watch = lab.watch([*must_stay_open, *must_stay_closed])
    time.sleep(0.5)
    out = _apply(lab, rules)
    time.sleep(0.5)
    seen = watch.stop()
    assert "ufw-apply: 0 added or updated, 0 removed" in out, out
    _assert_watch(seen, must_stay_open, must_stay_closed)
    assert "honeydue-guard" not in _guard_chains(lab)
    _assert_matrix(lab, OPEN_OLD)


def test_first_boot_failure_stays_closed_retries_and_says_why(lab: Lab) -> None:
    """ufw rejects a rule (here one with a zone id, which config now refuses): UFW stays inactive."""
    bad = "want 'allow from fe80::1%eth0 to any port 22 proto tcp' 'a rule ufw refuses'\n"
    rules = node_firewall_rules(OLD)
    script = lab.tmp / "ufw-apply.sh"
    script.write_text(_script(rules, bad))
    env = [*_installed_at(script), "HONEYDUE_FIREWALL_ATTEMPTS=2", "HONEYDUE_FIREWALL_RETRY_DELAY=1"]
    proc = lab.node_ufw_background([*env, "bash", str(script), "--first-boot"])
    # The node is open until the script's first step (as on Hetzner until cloud-init's runcmd, with
    # only sshd listening): watch from the moment the guard is up, through retries and failure.
    deadline = time.monotonic() + 30
    while "honeydue-guard" not in _guard_chains(lab):
        assert proc.poll() is None and time.monotonic() < deadline, "the guard never came up"
        time.sleep(0.02)
    must_stay_open, must_stay_closed = _watch_set()
    watch = lab.watch([*must_stay_open, *must_stay_closed])
    output, _ = proc.communicate(timeout=120)
    time.sleep(0.5)
    seen = watch.stop()
    out = output
    assert proc.returncode != 0, out
    assert "first-boot attempt 1 of 2 failed" in out and "could not be applied in 2 attempts" in out, out
    assert "stays closed except SSH" in out, out
    _assert_watch(seen, must_stay_open, must_stay_closed)
    assert "Status: inactive" in lab.node_ufw(["ufw", "status"]).stdout
    _assert_matrix(lab, OPEN_FAILED_CLOSED)

    # The cause fixed, the next run converges and takes the guard down.
    _apply(lab, rules)
    assert "honeydue-guard" not in _guard_chains(lab)
    _assert_matrix(lab, OPEN_OLD)
