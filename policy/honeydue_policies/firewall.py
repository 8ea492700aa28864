"""No firewall rule opens etcd, kubelet or the flannel overlay beyond the private ranges.

Two layers carry the node firewall (components/firewall/ufw.py and hcloud.py render both from one
model): the Hetzner Cloud Firewall (`hcloud:index/firewall:Firewall` rules) and the UFW script on every node, which
reaches the node twice — inside the server's cloud-init `userData` and as the text of the firewall-sync
remote command. The script lists each wanted rule as one line, `want '<ufw rule>' '<comment>'`, in the
syntax `ufw show added` prints; those lines are parsed here. A line that does not parse is a violation:
the policy can't prove it safe.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from pulumi_policy import ResourceValidationArgs

from honeydue_policies.common import Network, config, get, inside, items, networks

# RFC 1918 and RFC 4193. Hetzner private networks, the K3s pod and service CIDRs all live in these.
DEFAULT_PRIVATE_CIDRS = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
ANYWHERE = ("0.0.0.0/0", "::/0")
ALL_PORTS = ((1, 65535),)
FIREWALL_TYPE = "hcloud:index/firewall:Firewall"
SERVER_TYPE = "hcloud:index/server:Server"
COMMAND_TYPES = ("command:remote:Command", "command:local:Command")
SCRIPT_PATH = "/usr/local/sbin/honeydue-firewall"


@dataclass(frozen=True)
class Guarded:
    """A port range only the cluster's own networks may reach."""

    protocol: str
    first: int
    last: int
    purpose: str

    def label(self) -> str:
        ports = str(self.first) if self.first == self.last else f"{self.first}-{self.last}"
        return f"{self.purpose} {ports}/{self.protocol}"


GUARDED = (
    # Anyone reaching etcd reads every Secret (K3s stores them unencrypted by default) and can rewrite
    # the cluster; the kubelet API runs commands in any pod; VXLAN (and WireGuard) carry raw pod traffic
    # that bypasses every NetworkPolicy and UFW's pod rules.
    Guarded("tcp", 2379, 2380, "etcd"),
    Guarded("tcp", 10250, 10250, "kubelet"),
    Guarded("udp", 8472, 8472, "flannel VXLAN"),
    Guarded("udp", 51820, 51821, "flannel WireGuard"),
)


def _hits(protocol: str, ports: Sequence[tuple[int, int]]) -> list[Guarded]:
    return [
        g
        for g in GUARDED
        if protocol in (g.protocol, "any") and any(first <= g.last and g.first <= last for first, last in ports)
    ]


def _hcloud_ports(port: object) -> Sequence[tuple[int, int]] | None:
    """'22', '2379-2380', 'any' or missing (every port); None when it does not parse."""
    if port is None or port in ("", "any"):
        return ALL_PORTS
    first, _, last = str(port).partition("-")
    try:
        return ((int(first), int(last or first)),)
    except ValueError:
        return None


def check_hcloud_firewall(args: ResourceValidationArgs, private: Sequence[Network]) -> Iterator[str]:
    """Inbound hcloud rules that open a guarded port to a source outside the private ranges."""
    for index, rule in enumerate(items(args.props.get("rules"))):
        if get(rule, "direction", default="in") != "in":
            continue
        protocol = str(get(rule, "protocol", default=""))
        label = f"rule {index} ({get(rule, 'description', default='no description')})"
        ports = _hcloud_ports(get(rule, "port"))
        if ports is None:
            yield f"{label}: port {get(rule, 'port')!r} does not parse"
            continue
        hits = _hits(protocol, ports)
        public = [str(s) for s in items(get(rule, "sourceIps")) if not inside(str(s), private)]
        if hits and public:
            opened = ", ".join(g.label() for g in hits)
            yield f"{label} opens {opened} to {', '.join(public)}; only private ranges may reach it"


# --------------------------------------------------------------------------------------------- UFW

WANT_LINE = re.compile(r"^[ \t]*want[ \t]+(\S.*)$", re.MULTILINE)


@dataclass(frozen=True)
class UfwRule:
    """One `ufw show added` rule, reduced to what decides exposure."""

    routed: bool
    sources: tuple[str, ...]
    protocol: str
    ports: tuple[tuple[int, int], ...]


def _ufw_ports(text: str) -> tuple[tuple[int, int], ...]:
    """'22', '2379:2380', '80,443' -> ranges; raises ValueError."""
    ranges = []
    for part in text.split(","):
        first, _, last = part.partition(":")
        ranges.append((int(first), int(last or first)))
    return tuple(ranges)


def parse_ufw_rule(spec: str) -> UfwRule | None:
    """An allow/limit rule as UFW prints it; None for deny/reject rules. Raises ValueError if unparseable.

    Forms: `allow 22/tcp`, `allow 22`, `allow to any`, `allow from SRC`,
    `allow from SRC to DST port P proto PROTO` (any keyword optional), each optionally `route …`.
    """
    words = spec.split()
    routed = bool(words) and words[0] == "route"
    words = words[1:] if routed else words
    if not words or words[0] not in ("allow", "limit", "deny", "reject"):
        raise ValueError("expected allow, limit, deny or reject")
    if words[0] in ("deny", "reject"):
        return None
    words = [w for w in words[1:] if w != "in"]
    if len(words) == 1 and words[0] not in ("from", "to"):
        port, _, protocol = words[0].partition("/")
        return UfwRule(routed=routed, sources=ANYWHERE, protocol=protocol or "any", ports=_ufw_ports(port))
    fields: dict[str, str] = {}
    for key, value in zip(words[::2], words[1::2], strict=True):
        if key not in ("from", "to", "port", "proto", "on") or key in fields:
            raise ValueError(f"unexpected {key!r}")
        fields[key] = value
    source = fields.get("from", "any")
    return UfwRule(
        routed=routed,
        sources=ANYWHERE if source == "any" else (source,),
        protocol=fields.get("proto", "any"),
        ports=_ufw_ports(fields["port"]) if "port" in fields else ALL_PORTS,
    )


def check_ufw_script(text: str, private: Sequence[Network], where: str) -> Iterator[str]:
    """`want` lines of a rendered UFW script that open a guarded port beyond the private ranges."""
    for match in WANT_LINE.finditer(text):
        try:
            spec, comment = shlex.split(match.group(1))
            rule = parse_ufw_rule(spec)
        except ValueError as error:
            yield f"{where}: UFW line `{match.group(0).strip()}` does not parse ({error}); it can't be proven safe"
            continue
        if rule is None or rule.routed:
            continue  # routed rules forward to pods; they never reach the node's own ports
        hits = _hits(rule.protocol, rule.ports)
        public = [s for s in rule.sources if not inside(s, private)]
        if hits and public:
            opened = ", ".join(g.label() for g in hits)
            yield f"{where}: UFW rule `{spec}` ({comment}) opens {opened} to {', '.join(public)}"


def _scripts(args: ResourceValidationArgs) -> Iterator[tuple[str, str]]:
    if args.resource_type == SERVER_TYPE:
        user_data = args.props.get("userData")
        if isinstance(user_data, str):
            yield "userData", user_data
    elif args.resource_type in COMMAND_TYPES:
        for field in ("create", "update"):
            text = args.props.get(field)
            if isinstance(text, str):
                yield field, text


def check(args: ResourceValidationArgs) -> Iterator[str]:
    """Every rule of this resource that exposes a guarded port (see the module docstring)."""
    private = networks(config(args, "privateCidrs", DEFAULT_PRIVATE_CIDRS))
    if args.resource_type == FIREWALL_TYPE:
        yield from check_hcloud_firewall(args, private)
    for where, text in _scripts(args):
        if SCRIPT_PATH in text and not WANT_LINE.search(text):
            # An encoded (base64/gzip) or restructured script would otherwise pass unread.
            yield f"{where}: writes {SCRIPT_PATH} but holds no readable `want` rule line; it can't be proven safe"
        yield from check_ufw_script(text, private, where)
