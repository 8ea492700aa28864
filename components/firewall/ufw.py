"""The rule model rendered as the UFW script every node runs (scripts/ufw_apply.sh.tmpl)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Sequence
from pathlib import Path

from components.firewall.prefilter import UNPRIVILEGED_PORT_START, prefilter_rules
from components.firewall.rules import ANYWHERE, PRIVATE_INTERFACE, FirewallRule, as_network, normalise_cidrs

FIREWALL_SCRIPT_PATH = "/usr/local/sbin/honeydue-firewall"
"""Where cloud-init and the sync step install the script; UFW's start hook runs this copy (the template's
INSTALLED_PATH default)."""
NODE_SYSCTLS: tuple[str, ...] = (f"net.ipv4.ip_unprivileged_port_start={UNPRIVILEGED_PORT_START}",)
"""Kernel settings the script keeps (in ufw's sysctl.conf, applied whenever ufw starts, and live)."""
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
    rule_list = list(rules)
    lines: list[str] = []
    seen: dict[str, str] = {}
    for rule in rule_list:
        for spec in ufw_specs(rule):
            if spec in seen:
                # Two comments for one UFW rule would make every run rewrite the comment.
                raise ValueError(f"rules {seen[spec]!r} and {rule.description!r} both render `ufw {spec}`")
            seen[spec] = rule.description
            lines.append(f"want {shlex.quote(spec)} {shlex.quote(rule.description)}\n")
    lines += [f"prefilter {p.family} {p.hook} {shlex.quote(p.spec)}\n" for p in prefilter_rules(rule_list)]
    lines += [f"node_sysctl {shlex.quote(setting)}\n" for setting in NODE_SYSCTLS]
    lines += [f"private_network {shlex.quote(cidr)}\n" for cidr in _private_networks(rule_list)]
    lines += [f"guard_source {shlex.quote(cidr)}\n" for cidr in _ssh_sources(rule_list)]
    template = _TEMPLATE.read_text(encoding="utf-8")
    if template.count(_MARKER) != 1:
        raise RuntimeError(f"{_TEMPLATE} must hold the marker line {_MARKER.strip()!r} exactly once")
    return _without_comment_lines(template.replace(_MARKER, "".join(lines)))


_COMMENT_LINE = re.compile(r"[ \t]*#(?!!| shellcheck )", re.ASCII)


def _without_comment_lines(script: str) -> str:
    """The script without its comment lines (the shebang and shellcheck directives stay).

    The script travels in user data, which Hetzner caps at 32 KiB, and the template's comments are half
    its size; they stay in scripts/ufw_apply.sh.tmpl, which the rendered copy names. The template holds
    no heredoc and no multi-line string, so no line of data starts with `#` (the lab runs the result).
    """
    kept = [line for line in script.splitlines(keepends=True) if not _COMMENT_LINE.match(line)]
    kept.insert(1, "# Rendered from scripts/ufw_apply.sh.tmpl of the Honeydue infrastructure: its comments say why.\n")
    return "".join(kept)


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
