"""Proxied DNS records of every public hostname to every serving server, and the DNS-only Kubernetes API name.

A record is an origin Cloudflare sends requests to, whether its node serves or not (no health checks on the
Free plan). So a server released for a replacement or a scale-in (`replaceableNodes`) has no records: the `up`
that releases it withdraws them, before any later `up` stops it, and they come back (after the server's
serving step, components/edge/serving.py) in the `up` that takes it out of the list again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import pulumi
import pulumi_cloudflare as cloudflare

from components.anatomy import child_options

# ttl 1 is Cloudflare's "automatic", the only TTL a proxied record has (the edge answers for it).
PROXIED_TTL = 1
DNS_ONLY_TTL = 300

RecordType = Literal["A", "AAAA"]


def managed_comment(project: str, stack: str) -> str:
    """The comment that marks a DNS record as owned by this stack."""
    return f"managed by pulumi ({project}/{stack})"


def host_label(hostname: str, domain: str) -> str:
    """A resource-name-safe label of a hostname under `domain`: 'apex', 'www', 'api', 'a-b' for a.b.<domain>."""
    if hostname == domain:
        return "apex"
    suffix = "." + domain
    if not hostname.endswith(suffix) or hostname == suffix:
        raise ValueError(f"{hostname!r} is not under the zone {domain!r}")
    return hostname.removesuffix(suffix).replace(".", "-")


class RecordSpec(NamedTuple):
    """One DNS record to create."""

    resource_name: str
    """Pulumi name, `<component>-<host label>-<a|aaaa>-<server>` (API records: `-a-<n>`)."""
    hostname: str
    """FQDN of the record."""
    type: RecordType
    """Record type."""
    content: pulumi.Input[str]
    """The address."""
    proxied: bool
    """Orange-cloud (through Cloudflare) or DNS-only."""
    server: str = ""
    """Name of the server the record points at ("" when unknown)."""


@dataclass(frozen=True, kw_only=True)
class EdgeDnsArgs:
    zone_id: pulumi.Input[str]
    """Cloudflare zone id (see `cloudflare_zone_id`)."""
    domain: str
    """The zone's name, e.g. honeydue.app."""
    hostnames: tuple[str, ...]
    """FQDNs served through Cloudflare's proxy: the apex, www, the api and admin hosts."""
    servers: Sequence[tuple[str, pulumi.Input[str], pulumi.Input[str]]]
    """(name, public IPv4, public IPv6) of every node; each hostname points at all of them (round-robin)."""
    api_dns_name: str | None = None
    """FQDN of the Kubernetes API, DNS-only; None = no record."""
    api_addresses: Sequence[pulumi.Input[str]] = ()
    """IPv4 addresses the API name resolves to."""
    api_servers: Sequence[str] = ()
    """Names of the servers behind `api_addresses`, in the same order (empty: not named)."""
    after: Mapping[str, pulumi.Resource] = field(default_factory=dict)
    """Per server name, what its records wait for and are deleted before (its leave step)."""
    withdrawn: frozenset[str] = frozenset()
    """Servers without records: released for a replacement or a scale-in (replaceableNodes)."""

    def __post_init__(self) -> None:
        for hostname in (*self.hostnames, *([self.api_dns_name] if self.api_dns_name else [])):
            host_label(hostname, self.domain)
        if len(set(self.hostnames)) != len(self.hostnames):
            raise ValueError(f"hostnames repeat: {self.hostnames}")
        if self.api_dns_name in self.hostnames:
            raise ValueError(f"{self.api_dns_name} can't be both proxied and DNS-only")
        if self.api_dns_name and not self.api_addresses:
            raise ValueError(f"{self.api_dns_name} needs at least one address")
        if self.api_servers and len(self.api_servers) != len(self.api_addresses):
            raise ValueError(f"api_servers {list(self.api_servers)} must name each of the api_addresses")
        names = [server[0] for server in self.servers]
        if len(set(names)) != len(names):
            raise ValueError(f"server names repeat: {names}")


def _by_family(ipv4: pulumi.Input[str], ipv6: pulumi.Input[str]) -> list[tuple[RecordType, pulumi.Input[str]]]:
    return [("A", ipv4), ("AAAA", ipv6)]


def dns_records(name: str, args: EdgeDnsArgs) -> list[RecordSpec]:
    """Every record of `args`: hostname × family × server proxied, then the API name's A records."""
    records = [
        RecordSpec(f"{name}-{label}-{family.lower()}-{server}", hostname, family, address, True, server)
        for hostname in args.hostnames
        for label in [host_label(hostname, args.domain)]
        for server, ipv4, ipv6 in args.servers
        if server not in args.withdrawn
        for family, address in _by_family(ipv4, ipv6)
    ]
    if args.api_dns_name:
        # DNS-only: kubectl and joining nodes speak TLS to 6443 directly; Cloudflare's proxy doesn't carry it.
        label = host_label(args.api_dns_name, args.domain)
        servers = list(args.api_servers) or [""] * len(args.api_addresses)
        # Numbered by position among all servers, withdrawn ones included: a release renames no other record.
        records += [
            RecordSpec(f"{name}-{label}-a-{index}", args.api_dns_name, "A", address, False, server)
            for index, (address, server) in enumerate(zip(args.api_addresses, servers, strict=True), start=1)
            if server not in args.withdrawn
        ]
    return records


class EdgeDns(pulumi.ComponentResource):
    """The DNS-only API records at once, and the proxied records of every hostname once each server serves.

    Two phases because the Kubernetes provider dials the API name (its records first), while a proxied
    record waits for its server to serve (`publish`), which needs Traefik and the apps, which need the provider.
    """

    records: list[cloudflare.DnsRecord]
    """Every record, DNS-only and (after `publish`) proxied."""
    api_records: list[cloudflare.DnsRecord]
    """The DNS-only records of the API name (none without apiDnsName)."""
    record_names: list[str]
    """Resource names of the records."""
    fqdns: list[str]
    """Every name the component publishes."""

    def __init__(self, name: str, args: EdgeDnsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("honeydue:edge:EdgeDns", name, None, opts)
        self._args, self._opts = args, opts
        self._comment = managed_comment(pulumi.get_project(), pulumi.get_stack())
        self._specs = dns_records(name, args)
        self.records, self.record_names = [], []
        self.api_records = self._create([spec for spec in self._specs if not spec.proxied], {})
        self.fqdns = [*args.hostnames, *([args.api_dns_name] if args.api_dns_name else [])]

    def publish(self, serving: Mapping[str, Sequence[pulumi.Resource]]) -> None:
        """Creates the proxied records, each after its server's steps in `serving` (by server name): its serving
        step, and in full/strict its gate."""
        missing = sorted({s.server for s in self._specs if s.proxied} - set(serving))
        if missing:
            raise ValueError(f"no serving step for {missing}: their records would not wait for them to serve")
        self._create([spec for spec in self._specs if spec.proxied], serving)
        self.register_outputs({"recordNames": self.record_names, "fqdns": self.fqdns})

    def _create(
        self, specs: list[RecordSpec], serving: Mapping[str, Sequence[pulumi.Resource]]
    ) -> list[cloudflare.DnsRecord]:
        created = [
            cloudflare.DnsRecord(
                spec.resource_name,
                zone_id=self._args.zone_id,
                name=spec.hostname,
                type=spec.type,
                content=spec.content,
                proxied=spec.proxied,
                ttl=PROXIED_TTL if spec.proxied else DNS_ONLY_TTL,
                comment=self._comment,
                opts=child_options(
                    self, self._opts, depends_on=[self._args.after.get(spec.server), *serving.get(spec.server, ())]
                ),
            )
            for spec in specs
        ]
        self.records += created
        self.record_names += [spec.resource_name for spec in specs]
        return created
