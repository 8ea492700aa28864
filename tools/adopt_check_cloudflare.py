"""The Cloudflare part of `make adopt-check`: DNS records and zone settings."""

from __future__ import annotations

from offline import fakes
from offline.records import Plan
from tools.adopt_findings import RECORD, SERVER, SETTING, Compare, Finding, Report, first
from tools.live import Live


def cloudflare_findings(plan: Plan, live: Live, report: Report, zone: str) -> None:
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
        record = first(live.dns_records, name=i.get("name"), type=i.get("type"), content=content)
        if record is None:
            report.findings.append(
                Finding("MISSING", reg.name, "dns record", f"{i.get('name')} {i.get('type')} {content}")
            )
            continue
        matched.add(record["id"])
        report.adopt_ids[reg.name] = f"{zone}/{record['id']}"
        c = Compare(report, reg)
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
        Compare(report, reg).field("value", reg.inputs.get("value"), setting.get("value"))
