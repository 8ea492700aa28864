"""Pure checks of single config values. Each returns a problem description, or None when fine.

They never echo secret values: callers pass secrets only to checks whose messages don't quote them.
"""

from __future__ import annotations

import base64
import re

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
EDGE_ORIGINS = ("records", "loadBalancer")
KUBE_PROXY_MODES = ("ipvs", "iptables", "nftables")
# kube-proxy's IPVS mode is deprecated from this Kubernetes release (KEP-5495; a warning only, not removed).
IPVS_DEPRECATED = (1, 35)
FLANNEL_BACKENDS = ("vxlan", "wireguard-native")
# The validities the Cloudflare Origin CA API accepts (requested_validity).
ORIGIN_CERT_VALIDITIES = (7, 30, 90, 365, 730, 1095, 5475)
# Hetzner: a spread placement group holds at most 10 servers.
SPREAD_GROUP_SIZE = 10
# The largest odd server count that fits one spread group. Agents' private addresses start after the
# last address this many servers would use, so adding servers never moves an agent's address.
MAX_SERVERS = 9
# Agents: ten spread groups of ten; far beyond what one private /24 and one etcd cluster carry anyway.
MAX_AGENTS = 100
# Replicas of one Deployment: spread over at most MAX_SERVERS + MAX_AGENTS nodes, a few each.
MAX_REPLICAS = 500

# kured's --reboot-days names (github.com/kubereboot/kured pkg/timewindow/days.go).
WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
# IANA zone names: UTC, or Area/Location[/Sub] with capitalised parts.
TIME_ZONE = re.compile(r"UTC|[A-Z][A-Za-z_]+(?:/[A-Z][A-Za-z0-9_+-]+){1,2}", re.ASCII)
CLOCK_TIME = re.compile(r"([01]\d|2[0-3]):[0-5]\d", re.ASCII)
BUCKET_FOLDER = re.compile(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*", re.ASCII)

# adoptIds entries: a resource name as build/plan/resources.md lists it, and a provider's id (a Hetzner number,
# a Cloudflare record id, `<zone id>/<record id>`, a Kubernetes `<namespace>/<name>`): printable ASCII, no blanks.
RESOURCE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,252}", re.ASCII)
IMPORT_ID = re.compile(r"[\x21-\x7e]{1,512}", re.ASCII)

# Canonical numbers only (no leading zero): "v1.34.06+k3s1" compares equal to v1.34.6 but names no release,
# so it would pass the upgrade gate and drain a node before the installer fails on it.
_NUMBER = r"(0|[1-9][0-9]{0,3})"
K3S_VERSION = re.compile(rf"v{_NUMBER}\.{_NUMBER}\.{_NUMBER}\+k3s([1-9][0-9]{{0,3}})", re.ASCII)
SERVER_TYPE = re.compile(r"[a-z]{2,4}\d{1,3}[a-z]{0,4}", re.ASCII)
IMAGE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}", re.ASCII)
# The node scripts are written for Ubuntu (apt, ufw, systemd, cloud-init's Ubuntu modules), LTS 24.04 and later:
# another OS or an end-of-life release fails at first boot, after the server exists.
SERVER_IMAGE = re.compile(r"ubuntu-(2[4-9]|[3-9][0-9])\.04", re.ASCII)
# A tag that names a release (1.42.0, v1.42.0, 7.4.2-alpine), not a moving line (stable, 7, 7.4-alpine).
RELEASE_TAG = re.compile(r"v?[0-9]+\.[0-9]+\.[0-9]+([._+-][A-Za-z0-9._-]+)?", re.ASCII)
DNS_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)", re.ASCII)
# <registry/><path>[:tag][@sha256:digest]: the distribution reference grammar (distribution/reference
# regexp.go), with lower-case paths. A registry is a DNS name or an IP with an optional port.
IMAGE_REF = re.compile(
    r"(?P<name>(?:(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*(?::\d{1,5})?/)?"
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?",
    re.ASCII,
)
QUANTITY = re.compile(r"[1-9]\d{0,5}(Mi|Gi|Ti)", re.ASCII)
# Hetzner Cloud Volumes hold 10 GB to 10 TB (docs.hetzner.com/cloud/volumes/overview).
MAX_VOLUME_MIB = 10 * 1024 * 1024


def is_arm(server_type: str) -> bool:
    """Hetzner's Ampere (arm64) types are the cax line; every other line is x86-64."""
    return server_type.startswith("cax")


def quantity_mib(quantity: str) -> int:
    """A QUANTITY in MiB."""
    unit = {"Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}[quantity[-2:]]
    return int(quantity[:-2]) * unit


SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
)
SSH_COMMENT = re.compile(r"[\x21-\x7e]+(?: [\x21-\x7e]+)*", re.ASCII)
INT32_MAX = 2**31 - 1
INT32_MIN = -(2**31)
# What a Cloudflare zone id looks like (the dashboard's "Zone ID"): 32 lower-case hex digits.
ZONE_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)
# S3 bucket naming rules (AWS "Bucket naming rules"; Backblaze B2 is stricter: 6-63, no dots).
BUCKET = re.compile(r"[a-z0-9][a-z0-9-]{4,61}[a-z0-9]", re.ASCII)
REGION = re.compile(r"[a-z]{2}(?:-[a-z0-9]{1,20}){1,4}", re.ASCII)
S3_FOLDER = re.compile(r"[A-Za-z0-9._-]{1,64}(?:/[A-Za-z0-9._-]{1,64}){0,7}", re.ASCII)
# An image-pull user: a `:` would split the user from the password in the dockerconfigjson `auth`.
REGISTRY_USER = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,127}", re.ASCII)


def agent_offset(number: int) -> int:
    """Offset from the subnet's gateway of agent `number` (1-based): after every address a server may take."""
    return MAX_SERVERS + number


def last_node_offset(server_count: int, agent_count: int) -> int:
    """Offset from the subnet's gateway of the highest private address the nodes use (server n is at n)."""
    return agent_offset(agent_count) if agent_count else server_count


def dns_name(value: str) -> str | None:
    if len(value) > 253 or not value or value.endswith("."):
        return f"{value!r} is not a valid DNS name"
    labels = value.split(".")
    if len(labels) < 2 or not all(DNS_LABEL.fullmatch(label) for label in labels) or labels[-1].isdigit():
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
    match = IMAGE_REF.fullmatch(value)
    if not match or len(match.group("name")) > 255:
        return f"{value!r} is not an image reference (registry/name:tag or name@sha256:<digest>)"
    tag, digest = match.group("tag"), match.group("digest")
    if not tag and not digest:
        return f"{value!r} has neither tag nor digest; pin a release tag or a digest"
    if tag and tag.lower() == "latest":
        return f"{value!r} uses the 'latest' tag, which makes rollouts unreproducible; pin a release"
    if tag and not digest and not RELEASE_TAG.fullmatch(tag):
        return f"{value!r} has the moving tag {tag!r}; pin a release (X.Y.Z) or a digest"
    return None


def image_registry(value: str) -> str:
    """The registry host of an image reference (docker.io when the first part is not a host)."""
    first, sep, _ = value.partition("/")
    return first if sep and ("." in first or ":" in first or first == "localhost") else "docker.io"


def kubernetes_release(value: str) -> tuple[int, int]:
    """(major, minor) of a valid K3s release's Kubernetes (v1.34.6+k3s1 -> (1, 34))."""
    match = K3S_VERSION.fullmatch(value)
    assert match is not None, value
    return int(match.group(1)), int(match.group(2))


def k3s_version(value: str) -> str | None:
    if not K3S_VERSION.fullmatch(value):
        return f"{value!r} is not a K3s release of the form vX.Y.Z+k3sN (e.g. v1.34.6+k3s1)"
    return None


def ssh_key_body(value: str) -> tuple[str, bytes] | str:
    """(type, key blob) of one OpenSSH public key line, or a problem; exactly one key per entry."""
    if "\n" in value or "\r" in value:
        return "holds more than one line; put each key in its own entry"
    parts = value.split(" ", 2)
    if len(parts) < 2 or parts[0] not in SSH_KEY_TYPES:
        return f"{value[:40]!r}… is not an OpenSSH public key (type base64 [comment])"
    if len(parts) == 3 and not SSH_COMMENT.fullmatch(parts[2]):
        return f"the key of type {parts[0]} has a comment with control characters or stray spaces"
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return f"the key of type {parts[0]} has a body that is not base64"
    # The blob is a list of length-prefixed strings (RFC 4253 6.6), the first one the key type;
    # reading all of them finds truncated or concatenated pastes.
    head = int.from_bytes(blob[:4], "big")
    if len(blob) < 4 or blob[4 : 4 + head] != parts[0].encode():
        return f"the key of type {parts[0]} has a body of another key type (paste error?)"
    fields, offset = [], 0
    while offset < len(blob):
        size = int.from_bytes(blob[offset : offset + 4], "big")
        if offset + 4 + size > len(blob) or len(blob) - offset < 4:
            return f"the key of type {parts[0]} has a truncated body (paste error?)"
        fields.append(blob[offset + 4 : offset + 4 + size])
        offset += 4 + size
    if parts[0] == "ssh-ed25519" and (len(fields) != 2 or len(fields[1]) != 32):
        return "the ssh-ed25519 key does not hold one 32-byte key (truncated or two keys pasted together?)"
    return parts[0], blob


# Operator keys: NIST SP 800-57 part 1 puts RSA-2048 at 112 bits of security, below what new keys get; OpenSSH
# itself refuses RSA keys under 1024 bits, so the floor here is the one a reviewer asks for.
MIN_RSA_BITS = 3072


def rsa_bits(blob: bytes) -> int:
    """The modulus size of an ssh-rsa key blob (string "ssh-rsa", mpint e, mpint n; RFC 4253 6.6)."""
    offset, fields = 0, []
    while offset + 4 <= len(blob):
        size = int.from_bytes(blob[offset : offset + 4], "big")
        fields.append(blob[offset + 4 : offset + 4 + size])
        offset += 4 + size
    return int.from_bytes(fields[2], "big").bit_length() if len(fields) == 3 else 0


def ssh_public_key(value: str) -> str | None:
    body = ssh_key_body(value)
    return body if isinstance(body, str) else None


def bucket_name(value: str) -> str | None:
    """S3/B2 bucket names: 6-63 of a-z, 0-9 and '-', starting and ending alphanumeric."""
    if not BUCKET.fullmatch(value) or value.startswith(("xn--", "b2-")):
        return f"{value!r} is not a valid bucket name (6-63 of a-z, 0-9, '-'; no dots, spaces or capitals)"
    return None


def region_name(value: str) -> str | None:
    if not REGION.fullmatch(value):
        return f"{value!r} is not an S3 region name (e.g. eu-central-003)"
    return None


def s3_folder(value: str) -> str | None:
    if not S3_FOLDER.fullmatch(value) or any(part in (".", "..") for part in value.split("/")):
        return f"{value!r} is not a folder path (segments of A-Z, a-z, 0-9, '.', '_', '-' joined by '/')"
    return None


def registry_user(value: str) -> str | None:
    if not REGISTRY_USER.fullmatch(value):
        return f"{value!r} is not a registry user name (letters, digits, '.', '_', '@', '-'; no ':' or spaces)"
    return None


def zone_id(value: str, what: str = "zone") -> str | None:
    if not ZONE_ID.fullmatch(value):
        return f"{value!r} is not a Cloudflare {what} id (32 lower-case hex digits)"
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

    if not TIME_ZONE.fullmatch(value):
        # localtime, posixrules, right/..., posix/... exist in a host's tzdata, not in kured's image, where
        # time.LoadLocation fails and kured exits (cmd/kured/main.go), so nodes are never patched.
        return f"{value!r} is not a zone like Europe/Berlin or UTC"
    if value.startswith(("Etc/GMT+", "Etc/GMT-")):
        # POSIX signs: Etc/GMT+2 is two hours *behind* UTC, so the window would move the other way.
        return f"{value!r} has an inverted sign (Etc/GMT+2 is UTC-2); name a place (e.g. Europe/Berlin) or UTC"
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return f"{value!r} is not an IANA time zone (e.g. Europe/Berlin, UTC)"
    return None


def k3s_token_switch(previous: str | None, current: str) -> str | None:
    """The cluster token may not move from `previous` (the last update's source, "config" or "random"; None
    before the first) to `current`: K3s refuses a server whose token does not decrypt the cluster's
    bootstrap data (k3s-io/k3s pkg/cluster/storage.go: "bootstrap data already found and encrypted with
    different token")."""
    if previous is None or previous == current:
        return None
    if previous == "config":
        return (
            "this stack's cluster runs on the configured token; unset, the stack would "
            "generate another one and K3s would refuse to start. Set it again (docs/migration.md)"
        )
    return (
        "this stack's cluster runs on the token the stack generated; a configured one "
        "would replace it on every node and K3s would refuse to start. Unset k3sToken"
    )
