"""Pure checks of single config values. Each returns a problem description, or None when fine.

They never echo secret values: callers pass secrets only to checks whose messages don't quote them.
"""

from __future__ import annotations

import base64
import ipaddress
import re
from urllib.parse import urlsplit

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Hetzner location -> its network zone (a private subnet must be in the zone of its servers).
HETZNER_LOCATIONS: dict[str, str] = {
    "nbg1": "eu-central",
    "fsn1": "eu-central",
    "hel1": "eu-central",
    "ash": "us-east",
    "hil": "us-west",
    "sin": "ap-southeast",
}
SSL_MODES = ("flexible", "full", "strict")
KUBE_PROXY_MODES = ("ipvs", "iptables", "nftables")
FLANNEL_BACKENDS = ("vxlan", "wireguard-native")
# The validities the Cloudflare Origin CA API accepts (requested_validity).
ORIGIN_CERT_VALIDITIES = (7, 30, 90, 365, 730, 1095, 5475)
# Hetzner: a spread placement group holds at most 10 servers.
SPREAD_GROUP_SIZE = 10
# The largest odd server count that fits one spread group. Agents' private addresses start after the
# last address this many servers would use, so adding servers never moves an agent's address.
MAX_SERVERS = 9

# kured's --reboot-days names (github.com/kubereboot/kured pkg/timewindow/days.go).
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d")
BUCKET_FOLDER = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*")

K3S_VERSION = re.compile(r"^v(\d+)\.(\d+)\.(\d+)\+k3s(\d+)$")
SERVER_TYPE = re.compile(r"^[a-z]{2,4}\d{1,3}[a-z]*$")
IMAGE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
DNS_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
# <registry/><path>[:tag][@sha256:digest], the distribution reference grammar, lower-case paths.
IMAGE_REF = re.compile(
    r"^(?P<name>(?:[a-z0-9.-]+(?::\d+)?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
QUANTITY = re.compile(r"^[1-9]\d*(Mi|Gi|Ti)$")
CRON_FIELD = re.compile(r"^[\d*/,-]+$")
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
)


def agent_offset(number: int) -> int:
    """Offset from the subnet's gateway of agent `number` (1-based): after every address a server may take."""
    return MAX_SERVERS + number


def last_node_offset(server_count: int, agent_count: int) -> int:
    """Offset from the subnet's gateway of the highest private address the nodes use (server n is at n)."""
    return agent_offset(agent_count) if agent_count else server_count


def parse_network(value: str) -> tuple[IpNetwork | None, str | None]:
    """A CIDR as a network; host bits set is an error (it usually hides a typo)."""
    try:
        net = ipaddress.ip_network(value, strict=True)
    except ValueError:
        try:
            loose = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return None, f"{value!r} is not a CIDR (e.g. 198.51.100.0/24 or 2001:db8::/48)"
        return None, f"{value!r} has host bits set; did you mean {loose}?"
    return net, None


def dns_name(value: str) -> str | None:
    if len(value) > 253 or not value or value.endswith("."):
        return f"{value!r} is not a valid DNS name"
    labels = value.split(".")
    if len(labels) < 2 or not all(DNS_LABEL.match(label) for label in labels):
        return f"{value!r} is not a valid DNS name (lower-case labels of letters, digits and '-')"
    return None


def hostname_under(value: str, domain: str) -> str | None:
    problem = dns_name(value)
    if problem:
        return problem
    if value != domain and not value.endswith("." + domain):
        return f"{value!r} is not under the zone {domain!r}"
    return None


def image_reference(value: str) -> str | None:
    match = IMAGE_REF.match(value)
    if not match:
        return f"{value!r} is not an image reference (registry/name:tag or name@sha256:<digest>)"
    tag, digest = match.group("tag"), match.group("digest")
    if not tag and not digest:
        return f"{value!r} has neither tag nor digest; pin a release tag or a digest"
    if tag == "latest":
        return f"{value!r} uses the 'latest' tag, which makes rollouts unreproducible; pin a release"
    return None


def k3s_version(value: str) -> str | None:
    if not K3S_VERSION.match(value):
        return f"{value!r} is not a K3s release of the form vX.Y.Z+k3sN (e.g. v1.34.6+k3s1)"
    return None


def ssh_public_key(value: str) -> str | None:
    parts = value.split()
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
        return f"{value[:40]!r}… is not an OpenSSH public key (type base64 [comment])"
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return f"the key of type {parts[0]} has a body that is not base64"
    # The blob starts with the key type as a length-prefixed string; a mismatch means a paste error.
    if len(blob) < 4 or blob[4 : 4 + int.from_bytes(blob[:4], "big")] != parts[0].encode():
        return f"the key of type {parts[0]} has a body of another key type (paste error?)"
    return None


def cron_schedule(value: str) -> str | None:
    fields = value.split()
    if len(fields) != 5 or not all(CRON_FIELD.match(f) for f in fields):
        return f"{value!r} is not a 5-field cron schedule (e.g. '0 */6 * * *')"
    return None


def s3_endpoint_host(value: str) -> str | None:
    if "://" in value or "/" in value:
        return f"{value!r} must be a host, not a URL (e.g. s3.eu-central-003.backblazeb2.com)"
    return dns_name(value)


def neon_pooler_url(value: str) -> str | None:
    """The Neon URL must use the -pooler host; the message never quotes the (secret) URL."""
    try:
        parts = urlsplit(value)
        host = parts.hostname or ""
    except ValueError:
        return "is not a URL"
    if parts.scheme not in ("postgres", "postgresql"):
        return "must be a postgres:// or postgresql:// URL"
    if not host or "-pooler." not in host:
        return "must use Neon's pooled host (<endpoint>-pooler.<region>.aws.neon.tech)"
    return None


def k3s_upgrade(previous: str | None, target: str) -> str | None:
    """A change of release goes forward one minor at a time (Kubernetes' version-skew policy)."""
    old, new = K3S_VERSION.match(previous or ""), K3S_VERSION.match(target)
    if old is None or new is None or previous == target:
        return None
    old_v, new_v = tuple(int(x) for x in old.groups()), tuple(int(x) for x in new.groups())
    if new_v < old_v:
        return f"{target} is older than the running {previous}; K3s can't be downgraded in place (restore a snapshot)"
    if new_v[0] != old_v[0] or new_v[1] > old_v[1] + 1:
        return (
            f"{previous} -> {target} skips a minor version; upgrade one minor at a time (v{old_v[0]}.{old_v[1] + 1}.x)"
        )
    return None


def time_zone(value: str) -> str | None:
    """An IANA zone name, as kured's --time-zone takes it (Go's time.LoadLocation)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)"
    return None
