"""The iptables rules a K3s v1.34.6+k3s1 server with this stack's flags adds next to UFW, for the firewall lab.

Generated from upstream source, each shape cited; rule text as `iptables -S` prints it. Versions (from
k3s-io/k3s go.mod at v1.34.6+k3s1, commit 234e6132): kube-router k3s-io/kube-router v2.6.3-k3s1 (commit
b10430db; the embedded network-policy controller, pkg/agent/netpol), Kubernetes k3s-io/kubernetes
v1.34.6-k3s1 (kube-proxy), flannel v0.28.2 (vxlan), CNI plugins rancher/plugins v1.9.1-k3s1 (flannel CNI
delegating to bridge with ipMasq false, portmap, bandwidth: no filter-table rules).
Abbreviations: KR = k3s-io/kube-router@v2.6.3-k3s1:pkg/controllers/netpol/; KP = kube-proxy
(pkg/proxy/{ipvs,iptables}/proxier.go, cited by function: the repository is too large for a line-exact
read here); FL = flannel-io/flannel@v0.28.2:pkg/trafficmngr/iptables/iptables.go.

The lab's two local pods stand for what matters: one that no NetworkPolicy selects (everything in
kube-system), and one with the app namespace's policies (ingress to its port from the pod and node
networks, egress to the internet on 443 except the pod, node and link-local networks: k8s/policies.py).
ipset names are fixed stand-ins for kube-router's hashed ones (KR policy.go:924-966).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

Mode = Literal["ipvs", "iptables"]

MASQ = "0x4000/0x4000"  # kube-proxy's masquerade bit 14 (KP defaults.go SetDefaults_KubeProxyConfiguration)
ALLOWED = "0x10000/0x10000"  # KR policy.go:514: allowed by a policy or the default chain
COMPLIES = "0x20000/0x20000"  # KR network_policy_controller.go:581-583: accepted in the built-in chains


@dataclass(frozen=True, kw_only=True)
class LabCluster:
    """The node's K3s view of the lab."""

    cluster_cidr: str = "10.42.0.0/16"
    service_cidr: str = "10.43.0.0/16"
    node_cidr: str = "10.0.0.0/16"
    open_pod: str = "10.42.0.5"
    """A pod no NetworkPolicy selects (kube-system)."""
    app_pod: str = "10.42.0.6"
    """A pod with the app namespace's policies."""
    app_port: int = 8000
    """The port the app pod's ingress policy opens (and the NodePort's target)."""
    dns_service: str = "10.43.0.10"
    """A ClusterIP Service (kube-dns) on 53/udp and 53/tcp."""
    node_port: int = 30080
    """A NodePort Service (iptables mode: DNATed to open_pod:app_port)."""


def _ipt(*words: str, table: str = "filter") -> list[str]:
    return ["iptables", "-w", "-t", table, *words]


def _rule(text: str, table: str = "filter") -> list[str]:
    """One rule written as `iptables -S` prints it (quotes as the shell reads them)."""
    return _ipt(*shlex.split(text), table=table)


def _comment(text: str) -> list[str]:
    return ["-m", "comment", "--comment", text]


def ipsets(lab: LabCluster, mode: Mode) -> list[list[str]]:
    """kube-router's policy sets (KR policy.go:130-144, 457-460, 833-846: `<type> timeout 0`, except as nomatch)
    and, in IPVS mode, kube-proxy's (KP ipvs/ipset.go ipsetInfo)."""
    sets: list[tuple[str, str, list[str]]] = [
        ("KUBE-DST-APP", "hash:ip", [lab.app_pod]),
        ("KUBE-SRC-APP", "hash:ip", [lab.app_pod]),
        ("KUBE-SRC-APP-IN", "hash:net", [lab.cluster_cidr, lab.node_cidr]),
        # ipset's hash:net takes prefixes 1-32: the internet is its two halves.
        ("KUBE-DST-APP-OUT", "hash:net", ["0.0.0.0/1", "128.0.0.0/1"]),
    ]
    if mode == "ipvs":
        sets += [
            ("KUBE-CLUSTER-IP", "hash:ip,port", [f"{lab.dns_service},udp:53", f"{lab.dns_service},tcp:53"]),
            ("KUBE-LOAD-BALANCER", "hash:ip,port", []),
            ("KUBE-EXTERNAL-IP", "hash:ip,port", []),
            ("KUBE-EXTERNAL-IP-LOCAL", "hash:ip,port", []),
            ("KUBE-HEALTH-CHECK-NODE-PORT", "bitmap:port", []),
            ("KUBE-IPVS-IPS", "hash:ip", [lab.dns_service]),
        ]
    out: list[list[str]] = []
    for name, kind, members in sets:
        extra = ["range", "0-65535"] if kind == "bitmap:port" else []
        out.append(["ipset", "create", name, kind, *extra, "timeout", "0"])
        out += [["ipset", "add", name, m] for m in members]
    for excepted in (lab.cluster_cidr, lab.node_cidr, "169.254.0.0/16"):
        out.append(["ipset", "add", "KUBE-DST-APP-OUT", excepted, "nomatch"])
    return out


def flannel(lab: LabCluster) -> list[list[str]]:
    """FL forwardRules (l.226-229) and masqRules (l.135-169), both appended (action "-A")."""
    pods = lab.cluster_cidr
    local = "10.42.0.0/24"
    fwd = _comment("flanneld forward")
    masq = _comment("flanneld masq")
    return [
        _ipt("-N", "FLANNEL-FWD"),
        _ipt("-A", "FORWARD", *fwd, "-j", "FLANNEL-FWD"),
        _ipt("-A", "FLANNEL-FWD", "-s", pods, *fwd, "-j", "ACCEPT"),
        _ipt("-A", "FLANNEL-FWD", "-d", pods, *fwd, "-j", "ACCEPT"),
        _ipt("-N", "FLANNEL-POSTRTG", table="nat"),
        _ipt("-A", "POSTROUTING", *masq, "-j", "FLANNEL-POSTRTG", table="nat"),
        _ipt("-A", "FLANNEL-POSTRTG", "-m", "mark", "--mark", MASQ, *masq, "-j", "RETURN", table="nat"),
        _ipt("-A", "FLANNEL-POSTRTG", "-s", local, "-d", pods, *masq, "-j", "RETURN", table="nat"),
        _ipt("-A", "FLANNEL-POSTRTG", "-s", pods, "-d", local, *masq, "-j", "RETURN", table="nat"),
        _ipt("-A", "FLANNEL-POSTRTG", "!", "-s", pods, "-d", local, *masq, "-j", "RETURN", table="nat"),
        _ipt("-A", "FLANNEL-POSTRTG", "-s", pods, "!", "-d", "224.0.0.0/4", *masq, "-j", "MASQUERADE", table="nat"),
        _ipt("-A", "FLANNEL-POSTRTG", "!", "-s", pods, "-d", pods, *masq, "-j", "MASQUERADE", table="nat"),
    ]


def kube_proxy(lab: LabCluster, mode: Mode) -> list[list[str]]:
    """kube-proxy's chains, then its jumps, each inserted at position 1 when missing (KP EnsureRule(Prepend))."""
    return _kube_proxy_ipvs(lab) if mode == "ipvs" else _kube_proxy_iptables(lab)


def _kube_proxy_ipvs(lab: LabCluster) -> list[list[str]]:
    # KP ipvs createAndLinkKubeChain (iptablesChains, iptablesJumpChain) and writeIptablesRules.
    chains = "KUBE-FORWARD KUBE-NODE-PORT KUBE-PROXY-FIREWALL KUBE-SOURCE-RANGES-FIREWALL KUBE-IPVS-FILTER"
    out = [_ipt("-N", c) for c in [*chains.split(), "KUBE-IPVS-OUT-FILTER"]]
    out += [
        _rule(f"-A KUBE-FORWARD -m comment --comment 'kubernetes forwarding rules' -m mark --mark {MASQ} -j ACCEPT"),
        _rule("-A KUBE-FORWARD -m comment --comment 'kubernetes forwarding conntrack rule' "
              "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        _rule("-A KUBE-NODE-PORT -m comment --comment 'Kubernetes health check node port' "
              "-m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT"),
        _rule("-A KUBE-SOURCE-RANGES-FIREWALL -j DROP"),
    ]  # fmt: skip
    for name in ("KUBE-LOAD-BALANCER", "KUBE-CLUSTER-IP", "KUBE-EXTERNAL-IP", "KUBE-EXTERNAL-IP-LOCAL"):
        out.append(_rule(f"-A KUBE-IPVS-FILTER -m set --match-set {name} dst,dst -j RETURN"))
    out.append(_rule("-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN"))
    out.append(_rule("-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT"))
    jumps = [
        ("FORWARD", "KUBE-FORWARD", "kubernetes forwarding rules"),
        ("INPUT", "KUBE-NODE-PORT", "kubernetes health check rules"),
        ("INPUT", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"),
        ("FORWARD", "KUBE-PROXY-FIREWALL", "kube-proxy firewall rules"),
        ("INPUT", "KUBE-IPVS-FILTER", "kubernetes ipvs access filter"),
        ("OUTPUT", "KUBE-IPVS-OUT-FILTER", "kubernetes ipvs access filter"),
    ]
    return out + [_ipt("-I", chain, "1", *_comment(text), "-j", target) for chain, target, text in jumps]


def _kube_proxy_iptables(lab: LabCluster) -> list[list[str]]:
    # KP iptables syncProxyRules (iptablesJumpChains, iptablesKubeletJumpChains) for one NodePort Service
    # with externalTrafficPolicy Cluster, DNATed to the open pod.
    new = ["-m", "conntrack", "--ctstate", "NEW"]
    chains = "KUBE-EXTERNAL-SERVICES KUBE-NODEPORTS KUBE-SERVICES KUBE-FORWARD KUBE-PROXY-FIREWALL KUBE-FIREWALL"
    out = [_ipt("-N", c) for c in chains.split()]
    out += [
        _rule("-A KUBE-FIREWALL -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m comment --comment 'block incoming localnet "
              "connections' -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP"),
        _rule("-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP"),
        _rule(f"-A KUBE-FORWARD -m comment --comment 'kubernetes forwarding rules' -m mark --mark {MASQ} -j ACCEPT"),
        _rule("-A KUBE-FORWARD -m comment --comment 'kubernetes forwarding conntrack rule' "
              "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
    ]  # fmt: skip
    endpoint = f"{lab.open_pod}:{lab.app_port}"
    nat = [
        ("KUBE-SERVICES", ["-m", "addrtype", "--dst-type", "LOCAL", "-j", "KUBE-NODEPORTS"]),
        ("KUBE-NODEPORTS", ["-p", "tcp", "-m", "tcp", "--dport", str(lab.node_port), "-j", "KUBE-EXT-LAB"]),
        ("KUBE-EXT-LAB", ["-j", "KUBE-MARK-MASQ"]),
        ("KUBE-EXT-LAB", ["-j", "KUBE-SVC-LAB"]),
        ("KUBE-SVC-LAB", ["-j", "KUBE-SEP-LAB"]),
        ("KUBE-SEP-LAB", ["-p", "tcp", "-m", "tcp", "-j", "DNAT", "--to-destination", endpoint]),
        ("KUBE-MARK-MASQ", ["-j", "MARK", "--or-mark", "0x4000"]),
        ("KUBE-POSTROUTING", ["-m", "mark", "!", "--mark", MASQ, "-j", "RETURN"]),
        ("KUBE-POSTROUTING", ["-j", "MARK", "--xor-mark", "0x4000"]),
        ("KUBE-POSTROUTING", ["-j", "MASQUERADE"]),
    ]
    for chain in dict.fromkeys(c for c, _ in nat):
        out.append(_ipt("-N", chain, table="nat"))
    out += [_ipt("-A", chain, *words, table="nat") for chain, words in nat]
    jumps = [
        ("INPUT", "KUBE-EXTERNAL-SERVICES", new, "kubernetes externally-visible service portals"),
        ("FORWARD", "KUBE-EXTERNAL-SERVICES", new, "kubernetes externally-visible service portals"),
        ("INPUT", "KUBE-NODEPORTS", [], "kubernetes health check service ports"),
        ("FORWARD", "KUBE-SERVICES", new, "kubernetes service portals"),
        ("OUTPUT", "KUBE-SERVICES", new, "kubernetes service portals"),
        ("FORWARD", "KUBE-FORWARD", [], "kubernetes forwarding rules"),
        ("INPUT", "KUBE-PROXY-FIREWALL", new, "kubernetes load balancer firewall"),
        ("OUTPUT", "KUBE-PROXY-FIREWALL", new, "kubernetes load balancer firewall"),
        ("FORWARD", "KUBE-PROXY-FIREWALL", new, "kubernetes load balancer firewall"),
    ]
    out += [_ipt("-I", chain, "1", *extra, *_comment(text), "-j", target) for chain, target, extra, text in jumps]
    out += [_ipt("-I", chain, "1", "-j", "KUBE-FIREWALL") for chain in ("INPUT", "OUTPUT")]
    for chain, target, text in (("OUTPUT", "KUBE-SERVICES", "kubernetes service portals"),
                                ("PREROUTING", "KUBE-SERVICES", "kubernetes service portals"),
                                ("POSTROUTING", "KUBE-POSTROUTING", "kubernetes postrouting rules")):  # fmt: skip
        out.append(_ipt("-I", chain, "1", *_comment(text), "-j", target, table="nat"))
    return out


def kube_router(lab: LabCluster) -> list[list[str]]:
    """The netpol controller's chains (KR network_policy_controller.go, pod.go, policy.go), then its
    top-level jumps at position 1 (ensureTopLevelChains :450-472) and the explicit ACCEPT right after the
    last rule naming KUBE in each built-in chain (ensureExplicitAccept :575-606)."""
    out = [_ipt("-N", c) for c in ("KUBE-ROUTER-INPUT", "KUBE-ROUTER-FORWARD", "KUBE-ROUTER-OUTPUT",
                                   "KUBE-NWPLCY-COMMON", "KUBE-NWPLCY-DEFAULT", "KUBE-NWPLCY-APP",
                                   "KUBE-POD-FW-OPEN", "KUBE-POD-FW-APP")]  # fmt: skip
    # KR network_policy_controller.go:637-657 (COMMON), :684-690 (DEFAULT).
    out += [
        _rule("-A KUBE-NWPLCY-COMMON -m conntrack --ctstate INVALID -j DROP"),
        _rule("-A KUBE-NWPLCY-COMMON -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"),
        *(_rule(f"-A KUBE-NWPLCY-COMMON -p icmp -m icmp --icmp-type {t} -j ACCEPT") for t in ("8", "3", "11")),
        _rule(f"-A KUBE-NWPLCY-DEFAULT -j MARK --set-xmark {ALLOWED}"),
    ]
    # KR policy.go:486-521: each allow rule a MARK / RETURN pair; ingress first, then egress, then NFLOG.
    allow = [
        ["-m", "set", "--match-set", "KUBE-SRC-APP-IN", "src", "-m", "set", "--match-set", "KUBE-DST-APP", "dst",
         "-p", "tcp", "-m", "tcp", "--dport", str(lab.app_port)],
        ["-m", "set", "--match-set", "KUBE-SRC-APP", "src", "-m", "set", "--match-set", "KUBE-DST-APP-OUT", "dst",
         "-p", "tcp", "-m", "tcp", "--dport", "443"],
    ]  # fmt: skip
    for match in allow:
        out.append(_ipt("-A", "KUBE-NWPLCY-APP", *match, "-j", "MARK", "--set-xmark", ALLOWED))
        out.append(_ipt("-A", "KUBE-NWPLCY-APP", *match, "-m", "mark", "--mark", ALLOWED, "-j", "RETURN"))
    # KR pod.go: the per-pod chain; a pod no policy selects runs through DEFAULT both ways.
    pods = (("KUBE-POD-FW-OPEN", lab.open_pod, None), ("KUBE-POD-FW-APP", lab.app_pod, "KUBE-NWPLCY-APP"))
    for chain, pod, policy in pods:
        out.append(_ipt("-A", chain, "-j", "KUBE-NWPLCY-COMMON"))
        out.append(_ipt("-A", chain, "-d", f"{pod}/32", "-m", "addrtype", "--src-type", "LOCAL", "-j", "ACCEPT"))
        if policy is None:
            out.append(_ipt("-A", chain, "-s", f"{pod}/32", "-j", "KUBE-NWPLCY-DEFAULT"))
            out.append(_ipt("-A", chain, "-d", f"{pod}/32", "-j", "KUBE-NWPLCY-DEFAULT"))
        else:
            out.append(_ipt("-A", chain, "-j", policy))
        out.append(_ipt("-A", chain, "-m", "mark", "!", "--mark", ALLOWED, "-j", "REJECT"))
        out.append(_ipt("-A", chain, "-j", "MARK", "--set-xmark", "0x0/0x10000"))
        out.append(_ipt("-A", chain, "-j", "MARK", "--set-xmark", COMPLIES))
    out.append(_rule(f"-A KUBE-ROUTER-INPUT -d {lab.service_cidr} -j RETURN"))
    out += [
        _rule(f"-A KUBE-ROUTER-INPUT -p {p} -m addrtype --dst-type LOCAL -m multiport --dports 30000:32767 -j RETURN")
        for p in ("tcp", "udp")
    ]
    for chain, pod, _ in pods:
        out.append(_ipt("-A", "KUBE-ROUTER-INPUT", "-s", f"{pod}/32", "-j", chain))
        out.append(_ipt("-A", "KUBE-ROUTER-FORWARD", "-d", f"{pod}/32", "-j", chain))
        out.append(_ipt("-A", "KUBE-ROUTER-FORWARD", "-s", f"{pod}/32", "-j", chain))
        out.append(_ipt("-A", "KUBE-ROUTER-OUTPUT", "-d", f"{pod}/32", "-j", chain))
        out.append(_ipt("-A", "KUBE-ROUTER-OUTPUT", "-s", f"{pod}/32", "-j", chain))
    return out


KUBE_ROUTER_JUMPS = (
    ("INPUT", "KUBE-ROUTER-INPUT", "kube-router netpol - 4IA2OSFRMVNDXBVV"),
    ("FORWARD", "KUBE-ROUTER-FORWARD", "kube-router netpol - TEMCG2JMHZYE7H7T"),
    ("OUTPUT", "KUBE-ROUTER-OUTPUT", "kube-router netpol - VEAAIY32XVBHCSCY"),
)
EXPLICIT_ACCEPT = "KUBE-ROUTER rule to explicitly ACCEPT traffic that comply to network policies"


def kube_router_sync() -> list[list[str]]:
    """What every kube-router sync re-asserts: its jump at position 1 (moved back there if something was
    inserted above it, KR :436-446). The explicit ACCEPT is placed by the caller (accept_position)."""
    out: list[list[str]] = []
    for chain, target, text in KUBE_ROUTER_JUMPS:
        delete = f"iptables -w -D {chain} -m comment --comment '{text}' -j {target} 2>/dev/null || true"
        out.append(["sh", "-c", delete])
        out.append(_ipt("-I", chain, "1", *_comment(text), "-j", target))
    return out


def explicit_accept(chain: str, rules: list[str]) -> list[str] | None:
    """The command kube-router runs when the ACCEPT is missing from `chain` (whose `iptables -S` lines are
    `rules`): insert it right after the last rule naming KUBE (KR :592-598); None when it is there."""
    if any(EXPLICIT_ACCEPT in r for r in rules):
        return None
    body = [r for r in rules if r.startswith("-A ")]
    last = max((i for i, r in enumerate(body) if "KUBE" in r), default=-1)
    accept = ["-m", "mark", "--mark", COMPLIES, "-j", "ACCEPT"]
    return _ipt("-I", chain, str(last + 2), *_comment(EXPLICIT_ACCEPT), *accept)


Run = Callable[[Sequence[str]], str]
"""Runs one command in the node's namespace and returns its stdout."""


def load(run: Run, mode: Mode, lab: LabCluster | None = None) -> None:
    """Add what a K3s server adds to the node's netfilter, in the order and positions it does."""
    cluster = lab or LabCluster()
    for argv in (*ipsets(cluster, mode), *flannel(cluster), *kube_proxy(cluster, mode), *kube_router(cluster)):
        run(argv)
    sync(run)


def sync(run: Run) -> None:
    """One kube-router sync: its jumps back at position 1, its explicit ACCEPT added where missing."""
    for argv in kube_router_sync():
        run(argv)
    for chain in ("INPUT", "FORWARD", "OUTPUT"):
        accept = explicit_accept(chain, run(["iptables", "-w", "-S", chain]).splitlines())
        if accept is not None:
            run(accept)
