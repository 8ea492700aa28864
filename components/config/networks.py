"""Pure checks of network config values: CIDRs as firewall rules will take them, operator networks, private ranges."""

from __future__ import annotations

import ipaddress

from components.config.reader import NAMESPACE

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_network(value: str) -> tuple[IpNetwork | None, str | None]:
    """A CIDR as a network: no zone id, no IPv4-mapped IPv6, no host bits (they usually hide a typo)."""
    if "/" not in value:
        return None, f"{value!r} is not a CIDR: give the prefix length (e.g. 198.51.100.7/32)"
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return None, f"{value!r} is not a CIDR (e.g. 198.51.100.0/24 or 2001:db8::/48)"
        return None, f"{value!r} has host bits set; did you mean {loose}?"
    if isinstance(net, ipaddress.IPv6Network):
        if net.network_address.scope_id is not None:
            # ufw rejects a zone id, so the first boot's firewall run would fail and leave UFW off.
            return None, f"{value!r} carries an IPv6 zone id (%…), which a firewall rule can't take"
        if net.subnet_of(IPV4_MAPPED):
            return None, f"{value!r} is IPv4-mapped IPv6 space (::ffff:0:0/96); write the IPv4 CIDR"
    if str(net) != value:
        # Netmask notation (10.43.0.0/255.255.0.0), an uncompressed or upper-case IPv6 spelling: every consumer
        # normalises it differently (UFW prints its own form back, so a sync would delete the rule it keeps).
        return None, f"{value!r} is not written canonically; write {net}"
    return net, None


IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")
# Special-purpose space that is never an operator's own source (IANA IPv4 and IPv6 Special-Purpose Address
# Registries, RFC 6890): private and unique-local space is never routed to the nodes' public addresses, so a rule
# for it only opens to whoever shares that space with Hetzner's network; translation prefixes (6to4, Teredo,
# NAT64) let any IPv4 host on the internet send from them. The documentation ranges (192.0.2.0/24,
# 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) stand in for real networks in the examples and pass.
NOT_OPERATOR_SPACE: tuple[tuple[IpNetwork, str], ...] = tuple(
    (ipaddress.ip_network(block), what)
    for block, what in (
        ("0.0.0.0/8", "'this network' (RFC 791), 0.0.0.0/8"),
        ("10.0.0.0/8", "private space (RFC 1918), 10.0.0.0/8"),
        ("172.16.0.0/12", "private space (RFC 1918), 172.16.0.0/12"),
        ("192.168.0.0/16", "private space (RFC 1918), 192.168.0.0/16"),
        ("192.0.0.0/24", "IETF protocol assignments (RFC 6890), 192.0.0.0/24"),
        ("192.88.99.0/24", "the 6to4 relay anycast prefix (RFC 7526), 192.88.99.0/24"),
        ("198.18.0.0/15", "benchmarking space (RFC 2544), 198.18.0.0/15"),
        ("192.31.196.0/24", "AS112 anycast (RFC 7535), 192.31.196.0/24"),
        ("192.52.193.0/24", "AMT anycast (RFC 7450), 192.52.193.0/24"),
        ("192.175.48.0/24", "AS112 direct delegation (RFC 7534), 192.175.48.0/24"),
        ("64:ff9b::/96", "the NAT64 prefix (RFC 6052), 64:ff9b::/96"),
        ("64:ff9b:1::/48", "local-use NAT64 (RFC 8215), 64:ff9b:1::/48"),
        ("100::/64", "discard-only space (RFC 6666), 100::/64"),
        ("2001::/23", "IETF protocol assignments (RFC 2928: Teredo, benchmarking, ORCHID, AMT, AS112), 2001::/23"),
        ("2002::/16", "6to4 (RFC 3056), 2002::/16"),
        ("2620:4f:8000::/48", "AS112 anycast (RFC 7534), 2620:4f:8000::/48"),
        ("fec0::/10", "deprecated site-local space (RFC 3879), fec0::/10"),
        ("fc00::/7", "unique-local space (RFC 4193), fc00::/7"),
    )
)
RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))


def source_network(value: str, min_prefix: dict[int, int], broad: frozenset[str]) -> str | None:
    """An operator network: a valid, routable CIDR no wider than the limit unless listed in `broad`."""
    net, problem = parse_network(value)
    if net is None:
        return problem
    if net.prefixlen == 0:
        return f"{value} would open SSH and the Kubernetes API to the whole internet"
    special = [
        what
        for what, hit in (
            ("loopback", net.is_loopback),
            ("link-local", net.is_link_local),
            ("multicast", net.is_multicast),
            ("unspecified", net.is_unspecified),
            ("reserved", net.is_reserved),
        )
        if hit
    ]
    if special:
        return f"{value} is {special[0]} space, never an operator's source address"
    if net.prefixlen < min_prefix[net.version] and value not in broad:
        return (
            f"{value} is wider than /{min_prefix[net.version]} (sourceMinPrefixV{net.version}); "
            "list it in broadSourceCidrs too if you really mean it"
        )
    hit = next(
        (what for block, what in NOT_OPERATOR_SPACE if block.version == net.version and block.overlaps(net)), None
    )
    if hit:
        return f"{value} overlaps {hit}, never an operator's own source address"
    return None


def private_ipv4(net: ipaddress.IPv4Network) -> str | None:
    """Cluster-internal networks must be RFC 1918 space: the firewall trusts them as node/pod sources."""
    if not any(net.subnet_of(block) for block in RFC1918):
        return f"{net} is not inside RFC 1918 private space (10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16)"
    return None


# Where no operator sits: carrier-grade NAT space (RFC 6598) is shared by a provider's customers.
CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
# IPv6 global unicast (RFC 4291 2.4): a source list covering it covers every IPv6 host on the internet.
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")


def covers_the_internet(sources: list[IpNetwork]) -> str | None:
    """Whether sources, taken together, open to every IPv4 or every IPv6 host, whatever each one is alone."""
    v4 = [n for n in sources if isinstance(n, ipaddress.IPv4Network)]
    v6 = [n for n in sources if isinstance(n, ipaddress.IPv6Network)]
    if any(n.prefixlen == 0 for n in ipaddress.collapse_addresses(v4)):
        return "together they cover every IPv4 address (0.0.0.0/0)"
    if any(GLOBAL_UNICAST_V6.subnet_of(n) for n in ipaddress.collapse_addresses(v6)):
        return "together they cover all of IPv6's global unicast space (2000::/3)"
    return None


def edge_overlap_problems(sources: dict[str, tuple[str, ...]], edge_ranges: tuple[str, ...]) -> list[str]:
    """Operator sources (by config key) that overlap Cloudflare's published ranges: every site any Cloudflare
    customer proxies would reach SSH and the API from there. Known only after the ranges' lookup."""
    edge = [ipaddress.ip_network(r) for r in edge_ranges]
    problems = []
    for key, values in sources.items():
        for i, value in enumerate(values):
            net, _ = parse_network(value)
            hit = next((e for e in edge if net is not None and e.version == net.version and e.overlaps(net)), None)
            if hit is not None:
                problems.append(f"{NAMESPACE}:{key}[{i}]: {value} overlaps Cloudflare's published range {hit}")
    return problems
