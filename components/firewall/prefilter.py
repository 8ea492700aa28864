"""The node's pre-filter chains: what must hold whatever K3s adds to the filter table.

UFW lives in the filter table, and on a K3s node it is not alone there: K3s's embedded network-policy
controller (kube-router) inserts its KUBE-ROUTER-INPUT/FORWARD/OUTPUT jumps at the top of the built-in
chains and ends each with an ACCEPT of every packet that complies with the NetworkPolicies; a pod that no
policy selects (everything in kube-system) complies with everything. Flannel's FLANNEL-FWD accepts every
forwarded packet to or from the pod network, and kube-proxy's KUBE-FORWARD accepts what its NodePort
rules marked. So in the filter table a UFW rule decides a pod's packet only when none of those did first
(tests/k3s_rules.py cites each shape and the lab loads them).

The netfilter `mangle` hooks run before `filter` at every hook (NF_IP_PRI_MANGLE -150 < NF_IP_PRI_FILTER
0; PREROUTING mangle also before nat's DNAT at -100, where kube-proxy's iptables mode rewrites NodePorts)
and none of K3s's components adds a rule there that ends the traversal (kube-proxy creates only an empty
canary chain in mangle). The script (scripts/ufw_apply.sh.tmpl) installs these chains, jumped to first
from the built-in mangle chains, and UFW's before.init re-installs them whenever UFW starts (boot included,
before the network and K3s come up). Pure data, no Pulumi.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from components.firewall.node_rules import POD_BRIDGE
from components.firewall.rules import FirewallRule, normalise_cidrs

Hook = Literal["PREROUTING", "INPUT", "OUTPUT"]

METADATA_SERVICE = "169.254.169.254/32"
"""Hetzner's metadata service: it serves the server's user data to any asker for the server's lifetime."""
NODEPORT_RANGE = (30000, 32767)
"""K3s's default `service-node-port-range` (kube-apiserver's default; this stack does not change it)."""
UNPRIVILEGED_PORT_START = 80
"""`net.ipv4.ip_unprivileged_port_start` on the node: hostNetwork Traefik binds 80/443 as a non-root uid
(no capability needed), so the metadata rule below, which spares only uid 0, covers it. Ports below 80
(sshd's 22 among them) stay privileged."""


@dataclass(frozen=True, kw_only=True)
class PrefilterRule:
    """One rule of a pre-filter chain, in the exact form `iptables -S` prints it (the script compares text)."""

    family: Literal[4, 6]
    """iptables (4) or ip6tables (6)."""
    hook: Hook
    """The built-in mangle chain whose first rule jumps to this rule's chain."""
    spec: str
    """The rule without `-A <chain>`, in `iptables -S` order: -s, -d, -i, -p, then the matches."""


def prefilter_rules(rules: Sequence[FirewallRule]) -> tuple[PrefilterRule, ...]:
    """Every pre-filter rule of a node, in chain order, derived from the node's rule model (the pod network
    is the source of the rules on the pod bridge).

    - PREROUTING (both families): new connections to any local address on the NodePort range are dropped
      before kube-proxy can DNAT them (iptables mode) or IPVS can take them (ipvs mode): nothing of this
      stack publishes a NodePort, and in iptables mode UFW never sees the DNATed packet in INPUT.
    - PREROUTING (v4): pods' packets to the metadata service are dropped before kube-router's FORWARD
      accept can pass them, and packets for pod addresses pass only from the bridge and the tunnels.
    - INPUT (v4): a local pod reaches the node itself only where the rule model lets pods reach it
      (the rules on the pod bridge: hostNetwork Traefik, the API, the kubelet, Service IPs); replies to
      connections the node opened (probes, the API server's webhooks) pass as established.
    - OUTPUT (v4): the node's own processes reach the metadata service only as root (cloud-init; the
      hcloud CSI node plugin, privileged in the host network, which reads its server id only there).
    """
    bridge = _pod_bridge_rules(rules)
    pod_networks = normalise_cidrs(s for r in bridge for s in r.sources)
    if len(pod_networks) != 1:
        raise ValueError(f"the rules on {POD_BRIDGE} must name one pod network, not {pod_networks}")
    (pods,) = pod_networks
    # kube-proxy's IPVS mode makes every Service IP a local address too: a ClusterIP Service may use a
    # port in the range, and pods reach it as the rule model says.
    services = normalise_cidrs(r.destination for r in bridge if r.destination)
    not_services = {4: "".join(f"! -d {n} " for n in services), 6: ""}
    new_nodeport = "-m addrtype --dst-type LOCAL -m conntrack --ctstate NEW"
    first, last = NODEPORT_RANGE
    out = [
        PrefilterRule(
            family=family,
            hook="PREROUTING",
            spec=f"{not_services[family]}-p {proto} {new_nodeport} -m {proto} --dport {first}:{last} -j DROP",
        )
        for family in (4, 6)
        for proto in ("tcp", "udp")
    ]
    out.append(PrefilterRule(family=4, hook="PREROUTING", spec=f"-s {pods} -d {METADATA_SERVICE} -j DROP"))
    # Pods are reached through the pod bridge and the flannel tunnels only (the interfaces the model forwards
    # pod traffic from): kube-router's FORWARD accept and flannel's FLANNEL-FWD (`-d <pods> -j ACCEPT`) would
    # pass a packet for a pod address from anywhere else. Replies to pods' masqueraded connections still carry
    # the node's address here (nat's reverse mapping runs after mangle PREROUTING).
    out += [
        PrefilterRule(family=4, hook="PREROUTING", spec=f"-d {pods} -i {interface} -j RETURN")
        for interface in dict.fromkeys(r.interface for r in rules if r.routed and r.interface)
    ]
    # (And should a pod's egress ever go out unmasqueraded, its replies still pass: they are established.)
    out.append(
        PrefilterRule(
            family=4, hook="PREROUTING", spec=f"-d {pods} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"
        )
    )
    out.append(PrefilterRule(family=4, hook="PREROUTING", spec=f"-d {pods} -j DROP"))
    # Not from a pod: UFW decides. From a pod: established, allowed by the model, or dropped.
    out.append(PrefilterRule(family=4, hook="INPUT", spec=f"! -s {pods} -j RETURN"))
    out.append(PrefilterRule(family=4, hook="INPUT", spec="-m conntrack --ctstate RELATED,ESTABLISHED -j RETURN"))
    out += [PrefilterRule(family=4, hook="INPUT", spec=spec) for rule in bridge for spec in _pod_to_node(rule)]
    out.append(PrefilterRule(family=4, hook="INPUT", spec="-j DROP"))
    out.append(PrefilterRule(family=4, hook="OUTPUT", spec=f"-d {METADATA_SERVICE} -m owner ! --uid-owner 0 -j DROP"))
    return tuple(out)


def _pod_bridge_rules(rules: Iterable[FirewallRule]) -> list[FirewallRule]:
    return [r for r in rules if r.interface == POD_BRIDGE and not r.routed]


def _pod_to_node(rule: FirewallRule) -> list[str]:
    """A pod-bridge rule of the model as RETURNs, one per source (passed on to filter, where UFW holds the
    same rule)."""
    if any(":" in s for s in rule.sources):
        raise ValueError(f"rule {rule.description!r}: pods are IPv4 only here")
    tail = [f"-d {rule.destination}"] if rule.destination else []
    tail.append(f"-i {rule.interface}")
    if rule.protocol != "any":
        tail.append(f"-p {rule.protocol} -m {rule.protocol} --dport {rule.port_label(':')}")
    return [" ".join([f"-s {source}", *tail, "-j RETURN"]) for source in rule.sources]
