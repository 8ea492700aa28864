"""The rule model rendered as the UFW script every node runs (scripts/ufw_apply.sh.tmpl)."""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from components.firewall.rules import ANYWHERE, PRIVATE_INTERFACE, FirewallRule, as_network, normalise_cidrs

_TEMPLATE = Path(__file__).resolve().parents[2] / "scripts" / "ufw_apply.sh.tmpl"
_MARKER = "# @@WANTED_RULES@@\n"


def _ufw_address(cidr: str) -> str:
    # `ufw show added` prints a /32 or /128 as the bare address; render it the same way.
    net = as_network(cidr)
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
