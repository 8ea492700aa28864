"""What `make adopt-check` reports: one finding per difference, and how a program field is compared with its
live value (tools/adopt_check.py)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from components.adoption import held_fields
from components.hetzner.nodes import SERVER_IGNORE_CHANGES
from offline.records import Registration

SERVER, NETWORK, SUBNET = (
    "hcloud:index/server:Server",
    "hcloud:index/network:Network",
    "hcloud:index/networkSubnet:NetworkSubnet",
)
GROUP, SSH_KEY, FIREWALL = (
    "hcloud:index/placementGroup:PlacementGroup",
    "hcloud:index/sshKey:SshKey",
    "hcloud:index/firewall:Firewall",
)
RECORD, SETTING = "cloudflare:index/dnsRecord:DnsRecord", "cloudflare:index/zoneSetting:ZoneSetting"
BLOCKING = {"MUST MATCH", "K8S IMMUTABLE"}


@dataclass(frozen=True)
class Finding:
    kind: str
    resource: str
    field: str = ""
    program: Any = None
    live: Any = None

    def line(self) -> str:
        where = f"{self.resource} {self.field}".strip()
        values = "" if self.program is None and self.live is None else f": program {self.program!r}, live {self.live!r}"
        return f"{self.kind:<13} {where}{values}"

    @property
    def blocking(self) -> bool:
        return self.kind in BLOCKING or (self.kind == "MISSING" and self.field in ("server", "network", "subnet"))


@dataclass
class Report:
    findings: list[Finding]
    adopt_ids: dict[str, str]

    @property
    def ok(self) -> bool:
        return not any(f.blocking for f in self.findings)


# Held for good on servers (an update would power one off or cut its network), yet the program relies on them:
# K3s and the firewall take the private address as 10.0.1.N+1 and the public ones as enabled.
HELD_BUT_MUST_MATCH = frozenset({"networks", "publicNets"})


class Compare:
    """Collects findings for one program resource against its live counterpart."""

    def __init__(self, report: Report, reg: Registration) -> None:
        self.report, self.reg = report, reg

    def field(self, name: str, program: Any, live: Any, *, key: str | None = None) -> None:
        """Compares one field; `key` is the input name that decides whether it is held (default `name`)."""
        if norm(program) == norm(live):
            return
        wire = key or name
        if wire in SERVER_IGNORE_CHANGES and self.reg.type == SERVER and wire not in HELD_BUT_MUST_MATCH:
            kind = "IGNORED"
        elif wire in held_fields(self.reg.type, self.reg.name):
            kind = "HELD"
        else:
            kind = "MUST MATCH"
        self.report.findings.append(Finding(kind, self.reg.name, name, program, live))


def norm(value: Any) -> Any:
    if isinstance(value, list):
        return sorted((norm(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {k: norm(v) for k, v in value.items() if v is not None}
    return value


def first(items: Iterable[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((i for i in items if all(i.get(k) == v for k, v in match.items())), None)
