"""The node firewall as one rule model: rules, the policy they are built from, and their checks.

Pure data, no Pulumi: `node_rules.node_firewall_rules` builds the rules; the same rules become the UFW
script every node runs (`ufw.render_ufw_script`) and, optionally, a Hetzner Cloud Firewall
(`hcloud.hcloud_rules`).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Protocol = Literal["tcp", "udp", "any"]
"""`any` means every protocol and port; UFW renders it as a rule without `proto` and `port`."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ANYWHERE: tuple[str, ...] = ("0.0.0.0/0", "::/0")

_PROTOCOLS: tuple[str, ...] = ("tcp", "udp", "any")
# Descriptions end up inside single quotes in the script and in `ufw show added`: no quotes,
# no shell metacharacters, ASCII only, so the text ufw prints back is the text we rendered.
_DESCRIPTION = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._:/(),+-]{0,79}", re.ASCII)
# An interface name as the kernel takes it (IFNAMSIZ 16), or the token the script resolves at apply time.
_INTERFACE = re.compile(r"@private|[a-z][a-z0-9._-]{0,14}", re.ASCII)
PRIVATE_INTERFACE = "@private"
"""Rendered as-is; the UFW script replaces it with the NIC that holds an address in the private network."""


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


def as_network(cidr: str) -> Network:
    """A rule's CIDR as a network (host bits allowed, as UFW takes them)."""
    return ipaddress.ip_network(cidr, strict=False)


def normalise_cidrs(cidrs: Iterable[str]) -> tuple[str, ...]:
    """Parse, normalise (host bits cleared), deduplicate and sort CIDRs: IPv4 first, then IPv6.

    Raises ValueError naming the first CIDR that does not parse.
    """
    nets = {as_network(c) for c in cidrs}
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
                as_network(cidr)
            except ValueError:
                problems.append(f"{name}: {cidr!r} is not a CIDR")
    if not policy.admin_cidrs:
        problems.append("admin_cidrs: needs at least one network, or nobody can reach SSH and the API")
    if policy.web_sources is not None and not policy.web_sources:
        problems.append("web_sources: empty would close 80/443 entirely; use None for anywhere")
    return problems


def _overlaps(rule: FirewallRule, guarded: PortRange) -> bool:
    ports = rule.ports()
    if ports is None:
        return True
    return rule.protocol == guarded.protocol and ports[0] <= guarded.port_to and guarded.port_from <= ports[1]


def _inside(source: str, networks: Sequence[Network]) -> bool:
    net = as_network(source)
    return any(net.version == p.version and net.subnet_of(p) for p in networks)  # type: ignore[arg-type]


def validate_rules(rules: Iterable[FirewallRule], *, private_cidrs: Iterable[str]) -> list[str]:
    """Problems in a rule set, one message per offending rule (empty list: fine).

    A private-only port (PRIVATE_ONLY_PORTS) or a routed rule must have every source inside
    private_cidrs (the private network plus the pod and service CIDRs).
    """
    private = [as_network(c) for c in private_cidrs]
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
            destination is None or ipaddress.ip_address(destination) not in as_network(rule.destination)
        ):
            continue
        ports = rule.ports()
        if ports is not None and not ports[0] <= port <= ports[1]:
            continue
        if any(address in as_network(s) for s in rule.sources):
            return True
    return False
