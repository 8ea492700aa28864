"""`make adopt-check LIVE=dir/`: where the program's inputs differ from the live production, before any import.

The program is evaluated offline as the stack config says (tools' harness, adopt mode as configured); its
registered inputs are compared with the exported JSON of the live resources (tools/live.py). Each finding
says what the first `up` would do about it:

- MUST MATCH: the import would show a difference (an update, or a replace) of a field the program sets;
  fix the config (or the live resource) first.
- HELD: differs, but held by ignore_changes while adopting (components/adoption.py); after adoptIds is
  cleared it shows as an in-place update.
- IGNORED: differs, held by ignore_changes for good (a server's type, image, location).
- MISSING: nothing live matches: the resource would be created, not imported.
- UNMANAGED: live, in the program's scope, but not the program's: left as it is.
- K8S IMMUTABLE: a live Kubernetes object the take-over (upsert) would have to change where the API forbids it.
- UPDATED: a live Kubernetes object the take-over changes (its images): a rollout in the first `up`.

It also prints the `adoptIds` entries of everything it matched. Exit 1 when a MUST MATCH, MISSING server,
network or subnet, or K8S IMMUTABLE finding is present, else 0.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.adoption import held_fields
from components.config.reader import ConfigError
from components.hetzner.nodes import SERVER_IGNORE_CHANGES
from offline import fakes
from offline.harness import run_program
from offline.records import Plan, Registration
from tools.adopt_check_k8s import kubernetes_findings
from tools.adopt_keys import DEPLOY_KEY_NAME
from tools.live import Live, load_live

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


class _Compare:
    """Collects findings for one program resource against its live counterpart."""

    def __init__(self, report: Report, reg: Registration) -> None:
        self.report, self.reg = report, reg

    def field(self, name: str, program: Any, live: Any, *, key: str | None = None) -> None:
        """Compares one field; `key` is the input name that decides whether it is held (default `name`)."""
        if _norm(program) == _norm(live):
            return
        wire = key or name
        if wire in SERVER_IGNORE_CHANGES and self.reg.type == SERVER:
            kind = "IGNORED"
        elif wire in held_fields(self.reg.type, self.reg.name):
            kind = "HELD"
        else:
            kind = "MUST MATCH"
        self.report.findings.append(Finding(kind, self.reg.name, name, program, live))


def _norm(value: Any) -> Any:
    if isinstance(value, list):
        return sorted((_norm(v) for v in value), key=repr)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items() if v is not None}
    return value


def _first(items: Iterable[dict[str, Any]], **match: Any) -> dict[str, Any] | None:
    return next((i for i in items if all(i.get(k) == v for k, v in match.items())), None)


def check(plan: Plan, live: Live, zone_id: str | None = None) -> Report:
    """Every finding of the program `plan` against `live`, and the adoptIds entries of what matched."""
    report = Report([], {})
    _Hetzner(plan, live, report).run()
    zone = zone_id or next((r.get("zone_id") for r in live.dns_records if r.get("zone_id")), None) or "<zone id>"
    _cloudflare(plan, live, report, zone)
    report.findings += [Finding(*f) for f in kubernetes_findings(plan, live.kubernetes)]
    return report


class _Hetzner:
    """Servers match by name, the rest by what the servers use; program ids are made up, so references map
    through `to_live` (program id -> live id) once the referenced resource matched."""

    def __init__(self, plan: Plan, live: Live, report: Report) -> None:
        self.plan, self.live, self.report = plan, live, report
        self.servers = {s["name"]: s for s in live.servers}
        self.first = next((self.servers[r.name] for r in plan.by_type(SERVER) if r.name in self.servers), {})
        self.to_live: dict[str, Any] = {}

    def run(self) -> None:
        self.networks()
        self.groups()
        self.ssh_keys()
        self.firewalls()
        for reg in self.plan.by_type(SERVER):
            server = self.servers.get(reg.name)
            if self.adopt(reg, server, "server") and server:
                _server(self.report, reg, server, self.to_live)

    def adopt(self, reg: Registration, obj: dict[str, Any] | None, what: str, import_id: Any = None) -> bool:
        if obj is None:
            self.report.findings.append(Finding("MISSING", reg.name, what))
            return False
        self.to_live[reg.id] = obj["id"]
        self.report.adopt_ids[reg.name] = str(import_id if import_id is not None else obj["id"])
        return True

    def compare(self, reg: Registration, obj: dict[str, Any], *fields: tuple[str, str]) -> None:
        """Fields (program input, live key) compared one to one."""
        for program_key, live_key in fields:
            _Compare(self.report, reg).field(program_key, reg.inputs.get(program_key), obj.get(live_key))

    def networks(self) -> None:
        attached = (self.first.get("private_net") or [{}])[0].get("network")
        for reg in self.plan.by_type(NETWORK):
            net = _first(self.live.networks, id=attached) or _first(
                self.live.networks, ip_range=reg.inputs.get("ipRange")
            )
            if not self.adopt(reg, net, "network") or net is None:
                continue
            self.compare(reg, net, ("name", "name"), ("ipRange", "ip_range"), ("labels", "labels"))
            _Compare(self.report, reg).field(
                "deleteProtection", reg.inputs.get("deleteProtection"), net["protection"]["delete"]
            )
            for sub in self.plan.by_type(SUBNET):
                live_sub = _first(net.get("subnets") or [], ip_range=sub.inputs.get("ipRange"))
                # The provider imports a subnet as <network id>-<ip range>.
                import_id = f"{net['id']}-{sub.inputs.get('ipRange')}"
                if self.adopt(sub, live_sub and {"id": net["id"]}, "subnet", import_id) and live_sub:
                    self.compare(sub, live_sub, ("networkZone", "network_zone"), ("type", "type"))

    def groups(self) -> None:
        for reg in self.plan.by_type(GROUP):
            # The servers' group is the one server 1 is in; agent groups are found by name only.
            used = (self.first.get("placement_group") or {}).get("id") if reg.name.endswith("-spread") else None
            group = _first(self.live.placement_groups, name=reg.inputs.get("name")) or _first(
                self.live.placement_groups, id=used
            )
            if self.adopt(reg, group, "placement group") and group:
                self.compare(reg, group, ("name", "name"), ("type", "type"), ("labels", "labels"))

    def ssh_keys(self) -> None:
        for reg in self.plan.by_type(SSH_KEY):
            if reg.name == DEPLOY_KEY_NAME:
                continue  # the stack's own: created with the deploy key before adoption (tools/adopt_keys.py)
            body = str(reg.inputs.get("publicKey", "")).split()[1:2]
            key = next((k for k in self.live.ssh_keys if k.get("public_key", "").split()[1:2] == body), None)
            if self.adopt(reg, key, "ssh key") and key:
                self.compare(reg, key, ("name", "name"), ("labels", "labels"))

    def firewalls(self) -> None:
        attached = [f["id"] for f in (self.first.get("public_net") or {}).get("firewalls") or []]
        for reg in self.plan.by_type(FIREWALL):
            wall = _first(self.live.firewalls, name=reg.inputs.get("name")) or next(
                (f for f in self.live.firewalls if f["id"] in attached), None
            )
            if self.adopt(reg, wall, "firewall") and wall:
                self.compare(reg, wall, ("name", "name"), ("labels", "labels"))
                rules = [_rule(r, "sourceIps") for r in reg.inputs.get("rules", [])]
                _Compare(self.report, reg).field(
                    "rules", rules, [_rule(r, "source_ips") for r in wall.get("rules", [])]
                )


def _rule(rule: dict[str, Any], ips: str) -> dict[str, Any]:
    """A firewall rule without its description (free text), sources sorted."""
    return {k: rule.get(k) for k in ("direction", "protocol", "port")} | {"ips": sorted(rule.get(ips) or [])}


def _server(report: Report, reg: Registration, server: dict[str, Any], to_live: dict[str, Any]) -> None:
    i, c = reg.inputs, _Compare(report, reg)
    c.field("serverType", i.get("serverType"), server["server_type"]["name"])
    c.field("image", i.get("image"), (server.get("image") or {}).get("name"))
    c.field("location", i.get("location"), (server.get("location") or {}).get("name"))
    c.field("labels", i.get("labels"), server.get("labels"))
    c.field("deleteProtection", i.get("deleteProtection"), server["protection"]["delete"])
    c.field("rebuildProtection", i.get("rebuildProtection"), server["protection"]["rebuild"])
    group = server.get("placement_group") or {}
    c.field("placementGroupId", to_live.get(str(i.get("placementGroupId")), "<not imported>"), group.get("id"))
    firewalls = [f["id"] for f in server["public_net"].get("firewalls") or []]
    c.field("firewallIds", [to_live.get(str(f), "<not imported>") for f in i.get("firewallIds") or []], firewalls)
    program_nets = [
        {"network": to_live.get(str(n.get("networkId")), "<not imported>"), "ip": n.get("ip")}
        for n in i.get("networks") or []
    ]
    c.field(
        "networks", program_nets, [{"network": n["network"], "ip": n["ip"]} for n in server.get("private_net") or []]
    )
    public = (i.get("publicNets") or [{}])[0]
    c.field(
        "publicNets.ipv4Enabled",
        public.get("ipv4Enabled"),
        server["public_net"].get("ipv4") is not None,
        key="publicNets",
    )
    c.field(
        "publicNets.ipv6Enabled",
        public.get("ipv6Enabled"),
        server["public_net"].get("ipv6") is not None,
        key="publicNets",
    )


def _cloudflare(plan: Plan, live: Live, report: Report, zone: str) -> None:
    # The program's record contents are made-up server addresses: map them to the live servers' addresses.
    addresses: dict[str, str] = {}
    servers = {s["name"]: s for s in live.servers}
    for reg in plan.by_type(SERVER):
        made_up = fakes.outputs_for(SERVER, reg.name, {}, {})
        if reg.name in servers:
            addresses[made_up["ipv4Address"]] = servers[reg.name]["public_net"]["ipv4"]["ip"]
            # Hetzner lists the server's IPv6 /64; the provider's ipv6_address (what the records get) is its ::1.
            addresses[made_up["ipv6Address"]] = servers[reg.name]["public_net"]["ipv6"]["ip"].split("/")[0] + "1"
    matched: set[str] = set()
    names = {reg.inputs.get("name") for reg in plan.by_type(RECORD)}
    for reg in plan.by_type(RECORD):
        i = reg.inputs
        content = addresses.get(str(i.get("content")), "<a server not live>")
        record = _first(live.dns_records, name=i.get("name"), type=i.get("type"), content=content)
        if record is None:
            report.findings.append(
                Finding("MISSING", reg.name, "dns record", f"{i.get('name')} {i.get('type')} {content}")
            )
            continue
        matched.add(record["id"])
        report.adopt_ids[reg.name] = f"{zone}/{record['id']}"
        c = _Compare(report, reg)
        for field in ("proxied", "ttl", "comment"):
            c.field(field, i.get(field), record.get(field))
    for record in live.dns_records:
        if record.get("name") in names and record["id"] not in matched and record.get("type") in ("A", "AAAA"):
            report.findings.append(
                Finding("UNMANAGED", f"{record['name']} {record['type']} {record.get('content')}", "dns record")
            )
    settings = {s.get("id"): s for s in live.zone_settings}
    for reg in plan.by_type(SETTING):
        setting = settings.get(reg.inputs.get("settingId"))
        if setting is None:
            report.findings.append(Finding("MISSING", reg.name, "zone setting"))
            continue
        report.adopt_ids[reg.name] = f"{zone}/{setting['id']}"
        _Compare(report, reg).field("value", reg.inputs.get("value"), setting.get("value"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("live", type=Path, help="directory of exported JSON (tools/live.py lists the files)")
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--zone-id", help="Cloudflare zone id for the adoptIds entries (default: from the records)")
    args = parser.parse_args(argv)
    try:
        live = load_live(args.live)
    except (ValueError, OSError) as error:
        print(f"adopt-check: {error}", file=sys.stderr)
        return 2
    # The token's value is irrelevant here; set, an adoption of servers in the stack file passes the config check.
    try:
        plan = run_program(args.stack, {"k3sToken": "PLACEHOLDER-k3sToken"})
    except (ConfigError, OSError) as error:  # the stack's config as the program checks it; a missing stack file
        print(f"adopt-check: {error}", file=sys.stderr)
        return 2
    report = check(plan, live, args.zone_id)
    for finding in report.findings:
        print(finding.line())
    print("\nadoptIds entries of what matched:")
    for name, import_id in sorted(report.adopt_ids.items()):
        print(f"  {name}={import_id}")
    print("\nadopt-check: " + ("no blocking difference" if report.ok else "blocking differences above"))
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
