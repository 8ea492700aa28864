"""The Hetzner part of `make adopt-check`: servers, network and subnet, placement groups, SSH keys, firewalls."""

from __future__ import annotations

from typing import Any

from offline.records import Plan, Registration
from tools.adopt_findings import FIREWALL, GROUP, NETWORK, SERVER, SSH_KEY, SUBNET, Compare, Finding, Report, first
from tools.adopt_keys import DEPLOY_KEY_NAME
from tools.live import Live


class HetznerCheck:
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
            Compare(self.report, reg).field(program_key, reg.inputs.get(program_key), obj.get(live_key))

    def networks(self) -> None:
        attached = (self.first.get("private_net") or [{}])[0].get("network")
        for reg in self.plan.by_type(NETWORK):
            net = first(self.live.networks, id=attached) or first(
                self.live.networks, ip_range=reg.inputs.get("ipRange")
            )
            if not self.adopt(reg, net, "network") or net is None:
                continue
            self.compare(reg, net, ("name", "name"), ("ipRange", "ip_range"), ("labels", "labels"))
            Compare(self.report, reg).field(
                "deleteProtection", reg.inputs.get("deleteProtection"), net["protection"]["delete"]
            )
            for sub in self.plan.by_type(SUBNET):
                live_sub = first(net.get("subnets") or [], ip_range=sub.inputs.get("ipRange"))
                # The provider imports a subnet as <network id>-<ip range>.
                import_id = f"{net['id']}-{sub.inputs.get('ipRange')}"
                if self.adopt(sub, live_sub and {"id": net["id"]}, "subnet", import_id) and live_sub:
                    self.compare(sub, live_sub, ("networkZone", "network_zone"), ("type", "type"))

    def groups(self) -> None:
        for reg in self.plan.by_type(GROUP):
            # The servers' group is the one server 1 is in; agent groups are found by name only.
            used = (self.first.get("placement_group") or {}).get("id") if reg.name.endswith("-spread") else None
            group = first(self.live.placement_groups, name=reg.inputs.get("name")) or first(
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
            wall = first(self.live.firewalls, name=reg.inputs.get("name")) or next(
                (f for f in self.live.firewalls if f["id"] in attached), None
            )
            if self.adopt(reg, wall, "firewall") and wall:
                self.compare(reg, wall, ("name", "name"), ("labels", "labels"))
                rules = [_rule(r, "sourceIps") for r in reg.inputs.get("rules", [])]
                Compare(self.report, reg).field("rules", rules, [_rule(r, "source_ips") for r in wall.get("rules", [])])


def _rule(rule: dict[str, Any], ips: str) -> dict[str, Any]:
    """A firewall rule without its description (free text), sources sorted."""
    return {k: rule.get(k) for k in ("direction", "protocol", "port")} | {"ips": sorted(rule.get(ips) or [])}


def _server(report: Report, reg: Registration, server: dict[str, Any], to_live: dict[str, Any]) -> None:
    i, c = reg.inputs, Compare(report, reg)
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
