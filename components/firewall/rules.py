"""The node firewall as one rule model.

Pure data, no Pulumi: the same rules become the UFW script every node runs
(`render_ufw_script`) and, optionally, a Hetzner Cloud Firewall (`hcloud_rules`).
"""

from __future__ import annotations

import ipaddress
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Protocol = Literal["tcp", "udp", "any"]
"""`any` means every protocol and port; UFW renders it as a rule without `proto` and `port`."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ANYWHERE: tuple[str, ...] = ("0.0.0.0/0", "::/0")

_PROTOCOLS: tuple[str, ...] = ("tcp", "udp", "any")
# Descriptions end up inside single quotes in the script and in `ufw show added`: no quotes,
# no shell metacharacters, ASCII only, so the text ufw prints back is the text we rendered.
_DESCRIPTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:/(),+-]{0,79}")
# An interface name as the kernel takes it (IFNAMSIZ 16), or the token the script resolves at apply time.
_INTERFACE = re.compile(r"@private|[a-z][a-z0-9._-]{0,14}")
PRIVATE_INTERFACE = "@private"
"""Rendered as-is; the UFW script replaces it with the NIC that holds an address in the private network."""
_TEMPLATE = Path(__file__).resolve().parents[2] / "scripts" / "ufw_apply.sh.tmpl"
_MARKER = "# @@WANTED_RULES@@\n"


@dataclass(frozen=True, kw_only=True)
class PortRange:
    """A port range that must never be reachable from outside the cluster's own networks."""

    protocol: Literal["tcp", "udp"]
    """Transport protocol."""
    port_from: int
    """First port."""
    port_to: int
    """Last port (inclusive)."""
    purpose: str
    """What listens there, for error messages."""


PRIVATE_ONLY_PORTS: tuple[PortRange, ...] = (
    PortRange(protocol="tcp", port_from=2379, port_to=2380, purpose="etcd"),
    PortRange(protocol="tcp", port_from=10250, port_to=10250, purpose="kubelet"),
    PortRange(protocol="udp", port_from=8472, port_to=8472, purpose="flannel VXLAN"),
    PortRange(protocol="udp", port_from=51820, port_to=51821, purpose="flannel WireGuard"),
    # hostNetwork Traefik binds its internal entrypoints on the host too: dashboard/ping and metrics.
    PortRange(protocol="tcp", port_from=8080, port_to=8080, purpose="Traefik dashboard"),
    PortRange(protocol="tcp", port_from=9100, port_to=9100, purpose="Traefik metrics"),
    PortRange(protocol="tcp", port_from=30000, port_to=32767, purpose="NodePorts"),
    PortRange(protocol="udp", port_from=30000, port_to=32767, purpose="NodePorts"),
)


def _network(cidr: str) -> Network:
    return ipaddress.ip_network(cidr, strict=False)


def normalise_cidrs(cidrs: Iterable[str]) -> tuple[str, ...]:
    """Parse, normalise (host bits cleared), deduplicate and sort CIDRs: IPv4 first, then IPv6.

    Raises ValueError naming the first CIDR that does not parse.
    """
    nets = {_network(c) for c in cidrs}
    return tuple(str(n) for n in sorted(nets, key=lambda n: (n.version, n.network_address, n.prefixlen)))


@dataclass(frozen=True, kw_only=True)
class FirewallRule:
    """One allowed inbound (or, with `routed`, forwarded) flow."""

    description: str
    """Shown as the UFW comment and the hcloud rule description."""
    protocol: Protocol
    """tcp, udp, or any (all protocols and ports)."""
    port_from: int | None = None
    """First port; None for protocol any."""
    port_to: int | None = None
    """Last port (inclusive); defaults to port_from; None for protocol any."""
    sources: tuple[str, ...]
    """Allowed source CIDRs (v4 and/or v6); normalised, sorted, deduplicated on construction."""
    routed: bool = False
    """True: traffic forwarded through the node (a `ufw route` rule), not traffic to the node."""
    interface: str = ""
    """The interface the packet must arrive on (`in on`): "" any, PRIVATE_INTERFACE (the NIC holding the
    node's private address, found at apply time), or a fixed name such as cni0."""
    destination: str = ""
    """Destination CIDR; "" for any address of the node (or, routed, anywhere)."""

    def __post_init__(self) -> None:
        if not _DESCRIPTION.fullmatch(self.description):
            raise ValueError(f"rule description {self.description!r} must match {_DESCRIPTION.pattern}")
        if self.interface and not _INTERFACE.fullmatch(self.interface):
            raise ValueError(f"rule {self.description!r}: interface {self.interface!r} is not an interface name")
        if self.destination:
            try:
                normalise_cidrs([self.destination])
            except ValueError:
                raise ValueError(f"rule {self.description!r}: destination {self.destination!r} is not a CIDR") from None
        if self.protocol not in _PROTOCOLS:
            raise ValueError(f"rule {self.description!r}: protocol must be one of {_PROTOCOLS}")
        self._check_ports()
        object.__setattr__(self, "sources", _rule_sources(self.description, self.sources))

    def _check_ports(self) -> None:
        if self.protocol == "any":
            if self.port_from is not None or self.port_to is not None:
                raise ValueError(f"rule {self.description!r}: protocol any takes no ports")
            return
        port_from = _port(self.description, self.port_from)
        port_to = port_from if self.port_to is None else _port(self.description, self.port_to)
        if port_to < port_from:
            raise ValueError(f"rule {self.description!r}: port range {port_from}-{port_to} is reversed")
        object.__setattr__(self, "port_to", port_to)

    def ports(self) -> tuple[int, int] | None:
        """(first, last) port, or None when the rule covers every port (protocol any)."""
        if self.port_from is None or self.port_to is None:
            return None
        return (self.port_from, self.port_to)

    def port_label(self, separator: str = "-") -> str:
        """'22', '2379-2380' (UFW wants ':' as separator), or 'all' for protocol any."""
        ports = self.ports()
        if ports is None:
            return "all"
        first, last = ports
        return str(first) if first == last else f"{first}{separator}{last}"


def _port(description: str, port: object) -> int:
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"rule {description!r}: port {port!r} is not in 1-65535")
    return port


def _rule_sources(description: str, sources: Iterable[str]) -> tuple[str, ...]:
    try:
        normalised = normalise_cidrs(sources)
    except ValueError as err:
        raise ValueError(f"rule {description!r}: {err}") from None
    if not normalised:
        raise ValueError(f"rule {description!r}: needs at least one source")
    anywhere = [s for s in normalised if s in ANYWHERE]
    if len(anywhere) == 1:
        # UFW prints a v4-only and a dual-stack "anywhere" rule the same way (`ufw allow 80/tcp`),
        # which would make the script's diff ambiguous; "anywhere" is both families or neither.
        raise ValueError(f"rule {description!r}: {anywhere[0]} without its other-family twin; use ANYWHERE")
    return ANYWHERE if anywhere else normalised


@dataclass(frozen=True, kw_only=True)
class FirewallPolicy:
    """Plain inputs that decide the node firewall."""

    admin_cidrs: tuple[str, ...]
    """Operators' networks: SSH and the Kubernetes API."""
    deployer_cidrs: tuple[str, ...]
    """The CI machine that runs `pulumi up`: SSH and the API too (may be empty)."""
    private_network_cidr: str
    """Hetzner private network, e.g. 10.0.0.0/16 (node-to-node traffic)."""
    cluster_cidr: str
    """K3s pod CIDR, e.g. 10.42.0.0/16."""
    service_cidr: str
    """K3s service CIDR, e.g. 10.43.0.0/16."""
    web_sources: tuple[str, ...] | None
    """Cloudflare ranges (v4 and v6) when origin lockdown is on; None means anywhere."""
    wireguard: bool
    """Flannel's wireguard-native backend: opens 51820-51821/udp to the private network."""

    def __post_init__(self) -> None:
        problems = _policy_problems(self)
        if problems:
            raise ValueError("invalid firewall policy:\n  " + "\n  ".join(problems))


def _policy_problems(policy: FirewallPolicy) -> list[str]:
    problems: list[str] = []
    fields: list[tuple[str, tuple[str, ...]]] = [
        ("admin_cidrs", policy.admin_cidrs),
        ("deployer_cidrs", policy.deployer_cidrs),
        ("private_network_cidr", (policy.private_network_cidr,)),
        ("cluster_cidr", (policy.cluster_cidr,)),
        ("service_cidr", (policy.service_cidr,)),
        ("web_sources", policy.web_sources or ()),
    ]
    for name, cidrs in fields:
        for cidr in cidrs:
            try:
                _network(cidr)
            except ValueError:
                problems.append(f"{name}: {cidr!r} is not a CIDR")
    if not policy.admin_cidrs:
        problems.append("admin_cidrs: needs at least one network, or nobody can reach SSH and the API")
    if policy.web_sources is not None and not policy.web_sources:
        problems.append("web_sources: empty would close 80/443 entirely; use None for anywhere")
    return problems


def _port_rule(
    description: str,
    protocol: Literal["tcp", "udp"],
    ports: tuple[int, int],
    sources: Iterable[str],
    interface: str = "",
) -> FirewallRule:
    return FirewallRule(
        description=description,
        protocol=protocol,
        port_from=ports[0],
        port_to=ports[1],
        sources=tuple(sources),
        interface=interface,
    )


POD_BRIDGE = "cni0"
"""The bridge K3s' flannel CNI plugs this node's pods into: their packets to the node arrive here."""
# Flannel's tunnel interfaces per backend (flannel backends: vxlan -> flannel.1, wireguard-native ->
# flannel-wg); remote pods' traffic to local pods is decapsulated there and then forwarded.
FLANNEL_VXLAN = "flannel.1"
FLANNEL_WIREGUARD = "flannel-wg"
# What pods need of the node itself (not of other pods): hostNetwork Traefik, the API server (the
# `kubernetes` Service endpoints are the servers' private addresses), the kubelet (metrics-server).
POD_TO_NODE_PORTS: tuple[tuple[str, int], ...] = (
    ("hostNetwork Traefik HTTP", 80),
    ("hostNetwork Traefik HTTPS", 443),
    ("Kubernetes API", 6443),
    ("kubelet API", 10250),
)


def node_firewall_rules(policy: FirewallPolicy) -> tuple[FirewallRule, ...]:
    """Every flow a K3s server node accepts, in a fixed order. Anything not listed is dropped.

    Rules whose sources are the private network accept only on the private NIC (`in on`): a packet with a
    forged private source arriving on the public interface matches nothing and meets the DROP policy.
    """
    operators = policy.admin_cidrs + policy.deployer_cidrs
    private = (policy.private_network_cidr,)
    web = ANYWHERE if policy.web_sources is None else policy.web_sources
    nic = PRIVATE_INTERFACE
    rules = [
        _port_rule("SSH from admins and deployer", "tcp", (22, 22), operators),
        _port_rule("Kubernetes API from admins and deployer", "tcp", (6443, 6443), operators),
        # Nodes reach the API over the private network (node-ip/advertise-address are private).
        _port_rule("Kubernetes API from nodes", "tcp", (6443, 6443), private, nic),
        _port_rule("HTTP to hostNetwork Traefik", "tcp", (80, 80), web),
        _port_rule("HTTPS to hostNetwork Traefik", "tcp", (443, 443), web),
        _port_rule("etcd between servers", "tcp", (2379, 2380), private, nic),
        _port_rule("kubelet API from nodes", "tcp", (10250, 10250), private, nic),
        # Kept with wireguard-native too: a backend switch rolls node by node, and nodes still on
        # VXLAN keep talking 8472 until the last one moved.
        _port_rule("flannel VXLAN between nodes", "udp", (8472, 8472), private, nic),
    ]
    if policy.wireguard:
        # 51820 carries the IPv4 tunnel, 51821 the IPv6 one (K3s networking requirements).
        rules.append(_port_rule("flannel WireGuard between nodes", "udp", (51820, 51821), private, nic))
    rules += _cluster_rules(policy)
    return tuple(rules)


def _cluster_rules(policy: FirewallPolicy) -> list[FirewallRule]:
    # K3s' UFW guidance allows the pod and service CIDRs to every port; this opens only what pods need.
    # Pods on other nodes reach this node's addresses masqueraded to their node's private address
    # (flannel's ip-masq: pod source, non-pod destination), so they match the private-NIC rules above;
    # pod sources only ever arrive from this node's own pods, on the bridge.
    pods = (policy.cluster_cidr,)
    rules = [_port_rule(f"pods to {what}", "tcp", (port, port), pods, POD_BRIDGE) for what, port in POD_TO_NODE_PORTS]
    # kube-proxy's IPVS mode binds every Service IP to kube-ipvs0 on the node: a pod's packet to a Service
    # passes the filter INPUT chain (IPVS takes it over later, in LOCAL_IN). IPVS answers only for
    # ports that are Services; kube-proxy's KUBE-IPVS-FILTER rejects the rest.
    rules.append(
        FirewallRule(
            description="pods to Service IPs (IPVS)",
            protocol="any",
            sources=pods,
            interface=POD_BRIDGE,
            destination=policy.service_cidr,
        )
    )
    # Forwarding: pod egress and pod-to-pod traffic (local pods from the bridge, remote pods
    # decapsulated from the flannel tunnel). UFW's routed default stays deny, so traffic DNATed to a
    # pod from outside (a NodePort in iptables mode) is not forwarded, nor a forged pod source
    # arriving on the public NIC. The metadata service is dropped before these (ufw_apply.sh.tmpl).
    tunnels = [FLANNEL_VXLAN, FLANNEL_WIREGUARD] if policy.wireguard else [FLANNEL_VXLAN]
    for interface in [POD_BRIDGE, *tunnels]:
        rules.append(
            FirewallRule(
                description=f"forward pod traffic from {interface}",
                protocol="any",
                sources=pods,
                routed=True,
                interface=interface,
            )
        )
    return rules


def _overlaps(rule: FirewallRule, guarded: PortRange) -> bool:
    ports = rule.ports()
    if ports is None:
        return True
    return rule.protocol == guarded.protocol and ports[0] <= guarded.port_to and guarded.port_from <= ports[1]


def _inside(source: str, networks: Sequence[Network]) -> bool:
    net = _network(source)
    return any(net.version == p.version and net.subnet_of(p) for p in networks)  # type: ignore[arg-type]


def validate_rules(rules: Iterable[FirewallRule], *, private_cidrs: Iterable[str]) -> list[str]:
    """Problems in a rule set, one message per offending rule (empty list: fine).

    A private-only port (PRIVATE_ONLY_PORTS) or a routed rule must have every source inside
    private_cidrs (the private network plus the pod and service CIDRs).
    """
    private = [_network(c) for c in private_cidrs]
    allowed = ", ".join(str(n) for n in private) or "(none)"
    problems = []
    for rule in rules:
        public = [s for s in rule.sources if not _inside(s, private)]
        if not public:
            continue
        hit = [g.purpose for g in PRIVATE_ONLY_PORTS if _overlaps(rule, g)]
        if rule.routed:
            hit.append("forwarding to pods")
        if hit:
            problems.append(
                f"rule {rule.description!r} ({rule.port_label()}/{rule.protocol}) opens "
                f"{', '.join(dict.fromkeys(hit))} to {', '.join(public)}; only {allowed} may reach it"
            )
    return problems


def permits(
    rules: Iterable[FirewallRule],
    *,
    source: str,
    protocol: Literal["tcp", "udp"],
    port: int,
    routed: bool = False,
    interface: str = "",
    destination: str | None = None,
) -> bool:
    """Whether the rule set lets a packet from `source` through to `port`/`protocol`.

    routed=False asks about traffic to the node itself, routed=True about forwarded traffic.
    `interface` is where the packet arrives ("" = the public NIC, PRIVATE_INTERFACE, or e.g. cni0);
    `destination` the address it is sent to (None: one of the node's own addresses).
    """
    address = ipaddress.ip_address(source)
    for rule in rules:
        if rule.routed != routed or rule.protocol not in (protocol, "any"):
            continue
        if rule.interface and rule.interface != interface:
            continue
        if rule.destination and (
            destination is None or ipaddress.ip_address(destination) not in _network(rule.destination)
        ):
            continue
        ports = rule.ports()
        if ports is not None and not ports[0] <= port <= ports[1]:
            continue
        if any(address in _network(s) for s in rule.sources):
            return True
    return False


def _ufw_address(cidr: str) -> str:
    # `ufw show added` prints a /32 or /128 as the bare address; render it the same way.
    net = _network(cidr)
    return str(net.network_address) if net.prefixlen == net.max_prefixlen else str(net)


def ufw_specs(rule: FirewallRule) -> list[str]:
    """The rule as UFW commands (without `ufw` and the comment), in `ufw show added` syntax."""
    verb = "route allow" if rule.routed else "allow"
    if rule.sources == ANYWHERE and not rule.interface and not rule.destination:
        # One dual-stack UFW rule; ufw prints it in this short form.
        target = "to any" if rule.protocol == "any" else f"{rule.port_label(':')}/{rule.protocol}"
        return [f"{verb} {target}"]
    on = f" in on {rule.interface}" if rule.interface else ""
    port = "" if rule.protocol == "any" else f" port {rule.port_label(':')} proto {rule.protocol}"
    to = f" to {rule.destination or 'any'}" if rule.destination or port else ""
    return [f"{verb}{on} from {_ufw_address(s)}{to}{port}" for s in rule.sources]


def render_ufw_script(rules: Iterable[FirewallRule]) -> str:
    """A bash script that converges a node's UFW onto exactly these rules (see the template)."""
    lines: list[str] = []
    seen: dict[str, str] = {}
    for rule in rules:
        for spec in ufw_specs(rule):
            if spec in seen:
                # Two comments for one UFW rule would make every run rewrite the comment.
                raise ValueError(f"rules {seen[spec]!r} and {rule.description!r} both render `ufw {spec}`")
            seen[spec] = rule.description
            lines.append(f"want {shlex.quote(spec)} {shlex.quote(rule.description)}\n")
    rules = list(rules)
    lines += [f"private_network {shlex.quote(cidr)}\n" for cidr in _private_networks(rules)]
    lines += [f"guard_source {shlex.quote(cidr)}\n" for cidr in _ssh_sources(rules)]
    template = _TEMPLATE.read_text(encoding="utf-8")
    if template.count(_MARKER) != 1:
        raise RuntimeError(f"{_TEMPLATE} must hold the marker line {_MARKER.strip()!r} exactly once")
    return template.replace(_MARKER, "".join(lines))


def _private_networks(rules: Sequence[FirewallRule]) -> tuple[str, ...]:
    """The networks whose rules bind to the private NIC; the script finds the NIC by its address in them."""
    return normalise_cidrs(s for r in rules if r.interface == PRIVATE_INTERFACE for s in r.sources)


def _ssh_sources(rules: Sequence[FirewallRule]) -> tuple[str, ...]:
    """Who may open SSH: the one flow the script's guard keeps while UFW is reloaded or fails."""
    sources = [
        s
        for r in rules
        if not r.routed and not r.interface and r.protocol in ("tcp", "any") and (p := r.ports()) and p[0] <= 22 <= p[1]
        for s in r.sources
    ]
    if not sources:
        raise ValueError("no rule opens SSH: the guard would lock every operator out")
    return normalise_cidrs(sources)


def hcloud_rules(rules: Iterable[FirewallRule]) -> list[dict[str, object]]:
    """Inbound rules for a Hetzner Cloud Firewall, as plain dicts (hcloud FirewallRuleArgs fields).

    Skipped: protocol `any`, routed rules and rules bound to the pod bridge. Their sources are pod
    CIDRs, which only exist inside the cluster: such packets are VXLAN/WireGuard payload or never
    leave the node, and Hetzner's firewall filters public interfaces only (hcloud has no "any"
    protocol either).
    Rules whose sources are the private network are kept: they match nothing on the public
    interface and document that the port is intentionally closed to the internet.
    """
    return [
        {
            "direction": "in",
            "protocol": rule.protocol,
            "port": rule.port_label("-"),
            "source_ips": list(rule.sources),
            "description": rule.description,
        }
        for rule in rules
        if rule.protocol != "any" and not rule.routed and rule.interface in ("", PRIVATE_INTERFACE)
    ]
