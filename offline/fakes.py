"""What the providers would answer, made up deterministically for the offline plan.

Addresses come from documentation ranges (RFC 5737 / RFC 3849). Every made-up secret (a private key,
a password) is recorded in `known_secrets` so the plan writer can prove it never prints one.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Cloudflare's published ranges (www.cloudflare.com/ips, 15 IPv4 and 7 IPv6), as the provider's
# getIpRanges returns them; the etag is made up.
CLOUDFLARE_IPV4 = [
    "173.245.48.0/20", "103.21.244.0/22", "103.22.200.0/22", "103.31.4.0/22", "141.101.64.0/18",
    "108.162.192.0/18", "190.93.240.0/20", "188.114.96.0/20", "197.234.240.0/22", "198.41.128.0/17",
    "162.158.0.0/15", "104.16.0.0/13", "104.24.0.0/14", "172.64.0.0/13", "131.0.72.0/22",
]  # fmt: skip
CLOUDFLARE_IPV6 = [
    "2400:cb00::/32", "2606:4700::/32", "2803:f800::/32", "2405:b500::/32", "2405:8100::/32",
    "2a06:98c0::/29", "2c0f:f248::/32",
]  # fmt: skip
CLOUDFLARE_ETAG = "offline-plan-etag-1"
ZONE_ID = "0123456789abcdef0123456789abcdef"
KUBECONFIG_CA = "RkFLRS1DQQ=="  # base64 of FAKE-CA


@dataclass(frozen=True)
class World:
    """What the providers answer can change between two evaluations (offline.scenarios): a resource that
    was replaced comes back with a new id and new computed outputs, K3s may hand out a kubeconfig with
    another CA, Cloudflare may publish its ranges under a new etag. The default is the unchanged world."""

    replaced: frozenset[str] = frozenset()
    """Names of resources whose cloud object is a new one (new id, new addresses)."""
    kubeconfig_ca: str = KUBECONFIG_CA
    cloudflare_etag: str | None = None
    """None: the module's CLOUDFLARE_ETAG (tests patch it)."""
    unknown_replaced: bool = False
    """Preview of a replacement: the new object's computed outputs (id, addresses) are not known yet."""
    addresses: tuple[tuple[str, str, str], ...] = ()
    """(server name, IPv4, IPv6 /64 network) of servers whose real addresses are known (`make plan --live`):
    the plan then renders what those nodes get, e.g. their K3s config.yaml, byte for byte."""

    def instance(self, name: str) -> str:
        """A name that identifies the cloud object behind a resource: it differs once it was replaced."""
        return f"{name}#replacement" if name in self.replaced else name


WORLD = World()


def _digest(*parts: str) -> bytes:
    return hashlib.sha256("::".join(parts).encode()).digest()


def _host_number(name: str) -> int:
    return 10 + zlib.crc32(name.encode()) % 240


def fake_ed25519_public_key(name: str) -> str:
    """A well-formed OpenSSH ed25519 public key derived from `name`."""
    key_type = b"ssh-ed25519"
    blob = len(key_type).to_bytes(4, "big") + key_type + (32).to_bytes(4, "big") + _digest("pub", name)
    return f"ssh-ed25519 {base64.b64encode(blob).decode()}"


def _tls_private_key(name: str, inputs: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    # One line, so it survives being indented into YAML and can be redacted by plain replacement.
    private = f"FAKE-PRIVATE-KEY-{name}-{_digest('priv', name).hex()[:24]}"
    secrets[private] = f"private key of {name}"
    public = fake_ed25519_public_key(name)
    return {
        "privateKeyOpenssh": private,
        "privateKeyPem": private,
        "privateKeyPemPkcs8": private,
        "publicKeyOpenssh": public + "\n",
        "publicKeyPem": f"FAKE-PUBLIC-KEY-PEM-{name}",
        "publicKeyFingerprintSha256": "SHA256:" + base64.b64encode(_digest("fp", name)).decode().rstrip("="),
    }


def _random_password(name: str, inputs: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    value = f"FAKE-RANDOM-{name}-{_digest('rnd', name).hex()[:24]}"
    secrets[value] = f"random value of {name}"
    return {"result": value, "bcryptHash": f"FAKE-BCRYPT-{name}"}


def _hcloud_server(name: str, inputs: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    n = _host_number(name)
    return {
        "ipv4Address": f"203.0.113.{n}",
        "ipv6Address": f"2001:db8:{n:x}::1",
        "ipv6Network": f"2001:db8:{n:x}::/64",
        "status": "running",
    }


def _fake_pem(label: str, *parts: str) -> str:
    body = base64.b64encode(_digest(label, *parts) * 3).decode()  # 128 characters: two PEM lines of 64
    return f"-----BEGIN {label}-----\n{body[:64]}\n{body[64:]}\n-----END {label}-----\n"


def _tls_cert_request(name: str, inputs: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    # Holds only the public half, like a real CSR: nothing to record in `secrets`.
    common_name = str((inputs.get("subject") or {}).get("commonName", ""))
    return {"certRequestPem": _fake_pem("CERTIFICATE REQUEST", name, common_name)}


def _origin_ca_certificate(name: str, inputs: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    hostnames = ",".join(str(h) for h in inputs.get("hostnames") or [])
    return {"certificate": _fake_pem("CERTIFICATE", name, hostnames), "expiresOn": "2040-11-23T00:00:00Z"}


def _tls_certificate(name: str, inputs: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    # A self-signed or locally signed certificate: public, nothing to record in `secrets`.
    subject = str((inputs.get("subject") or {}).get("commonName", ""))
    return {"certPem": _fake_pem("CERTIFICATE", name, subject, str(inputs.get("certRequestPem", "")))}


AOP_CERTIFICATE = "cloudflare:index/authenticatedOriginPullsCertificate:AuthenticatedOriginPullsCertificate"


def _origin_pulls_certificate(name: str, inputs: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    # What Cloudflare answers the upload with (origin_tls_client_auth): an id, and a certificate not deployed yet.
    return {"certificateId": _digest("aop", name).hex()[:32], "status": "pending_deployment", "enabled": True}


def _zone_setting(name: str, inputs: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    # Cloudflare stamps modified_on on each edit: a time that changes with the value written and stays while it does
    # not (what the settle step after the `ssl` setting triggers on, components/edge/tls.py).
    seconds = int.from_bytes(_digest("modified", name, repr(inputs.get("value")))[:4], "big") % (365 * 24 * 3600)
    stamp = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC) + datetime.timedelta(seconds=seconds)
    return {"modifiedOn": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def _remote_command(name: str, inputs: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    return {"stdout": "", "stderr": ""}


def _kubeconfig(name: str, ca: str, secrets: dict[str, str]) -> dict[str, Any]:
    # What scripts/k3s/deployer-kubeconfig.sh prints: K3s's cluster entry and the deployer's made-up token.
    token = f"FAKE-SA-TOKEN-{name}-{_digest('kube', name).hex()[:24]}"
    secrets[token] = f"deployer token read by {name}"
    kubeconfig = (
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: " + ca + "\n"
        "    server: https://127.0.0.1:6443\n  name: default\ncontexts:\n- context:\n    cluster: default\n"
        "    user: pulumi-deployer\n  name: default\ncurrent-context: default\nusers:\n- name: pulumi-deployer\n"
        f"  user:\n    token: {token}\n"
    )
    return {"stdout": kubeconfig, "stderr": ""}


def _k8s_secret(name: str, inputs: dict[str, Any], secrets: dict[str, str]) -> dict[str, Any]:
    """The token controller fills a service-account-token Secret with a token (base64 in `data`)."""
    if inputs.get("type") != "kubernetes.io/service-account-token":
        return {}
    token = f"FAKE-NS-TOKEN-{name}-{_digest('satoken', name).hex()[:24]}"
    secrets[token] = f"namespace token of {name}"
    encoded = base64.b64encode(token.encode()).decode()
    secrets[encoded] = f"namespace token of {name} (base64)"
    return {"data": {"token": encoded, "ca.crt": "RkFLRS1DQQ==", "namespace": base64.b64encode(b"honeydue").decode()}}


OUTPUTS: dict[str, Callable[[str, dict[str, Any], dict[str, str]], dict[str, Any]]] = {
    "tls:index/privateKey:PrivateKey": _tls_private_key,
    "random:index/randomPassword:RandomPassword": _random_password,
    "hcloud:index/server:Server": _hcloud_server,
    "command:remote:Command": _remote_command,
    "tls:index/certRequest:CertRequest": _tls_cert_request,
    "cloudflare:index/originCaCertificate:OriginCaCertificate": _origin_ca_certificate,
    "tls:index/selfSignedCert:SelfSignedCert": _tls_certificate,
    "tls:index/locallySignedCert:LocallySignedCert": _tls_certificate,
    AOP_CERTIFICATE: _origin_pulls_certificate,
    "cloudflare:index/zoneSetting:ZoneSetting": _zone_setting,
    "command:local:Command": _remote_command,
    "kubernetes:core/v1:Secret": _k8s_secret,
}


def outputs_for(
    type_: str, name: str, inputs: dict[str, Any], secrets: dict[str, str], world: World = WORLD
) -> dict[str, Any]:
    """Provider-computed outputs of a resource (inputs are echoed by the caller) in `world`."""
    if type_ == "command:remote:Command" and name.endswith("-rekey"):
        # What scripts/node/rotate-host-key.sh prints: the key the node made itself, a new one per server
        # (its `triggers` hold the server's id, which a replacement changes).
        made_on = f"{name}/rotated/{inputs.get('triggers')}"
        return {"stdout": fake_ed25519_public_key(made_on) + "\n", "stderr": ""}
    if type_ == "command:remote:Command" and name.endswith("-kubeconfig"):
        return _kubeconfig(world.instance(name), world.kubeconfig_ca, secrets)
    make = OUTPUTS.get(type_)
    outputs = make(world.instance(name), inputs, secrets) if make else {}
    known = {server: (ipv4, network) for server, ipv4, network in world.addresses}
    if type_ == "hcloud:index/server:Server" and name in known and name not in world.replaced:
        ipv4, network = known[name]
        # As terraform-provider-hcloud v1.68.0 does (internal/server/resource.go L1271: IPv6.IP.String() + "1").
        outputs |= {"ipv4Address": ipv4, "ipv6Network": network, "ipv6Address": network.split("/")[0] + "1"}
    return outputs


# Server types the fake Hetzner sells: (architecture, locations). A model for the tests, not Hetzner's catalogue.
_EU = ("fsn1", "nbg1", "hel1")
_ALL = (*_EU, "ash", "hil", "sin")
SERVER_TYPES: dict[str, tuple[str, tuple[str, ...]]] = {
    **{f"cx{n}3": ("x86", _EU) for n in (2, 3, 4, 5)},
    **{f"cpx{n}1": ("x86", _ALL) for n in (1, 2, 3, 4, 5)},
    **{f"ccx{n}3": ("x86", _ALL) for n in (1, 2, 3, 4, 5, 6)},
    **{f"cax{n}1": ("arm", _EU) for n in (1, 2, 3, 4)},
}


class InvokeFailureError(Exception):
    """A data source's answer of failure (the provider's CheckFailures of an invoke)."""

    def __init__(self, property_: str, reason: str) -> None:
        super().__init__(reason)
        self.property = property_


def _server_type(args: dict[str, Any]) -> dict[str, Any]:
    name = args.get("name", "")
    if name not in SERVER_TYPES:
        raise InvokeFailureError("name", f"no server_type found with name {name}")
    architecture, locations = SERVER_TYPES[name]
    return {
        "id": 100 + sorted(SERVER_TYPES).index(name),
        "name": name,
        "architecture": architecture,
        "locations": [
            {"id": i, "name": loc, "available": True, "recommended": True, "isDeprecated": False}
            for i, loc in enumerate(locations)
        ],
    }


def invoke(token: str, args: dict[str, Any], world: World = WORLD) -> dict[str, Any]:
    """Data-source answers in `world`."""
    if token == "hcloud:index/getServerType:getServerType":
        return _server_type(args)
    if token == "cloudflare:index/getIpRanges:getIpRanges":
        return {
            "ipv4Cidrs": list(CLOUDFLARE_IPV4),
            "ipv6Cidrs": list(CLOUDFLARE_IPV6),
            "etag": world.cloudflare_etag or CLOUDFLARE_ETAG,
            "chinaIpv4Cidrs": [],
            "chinaIpv6Cidrs": [],
            "id": "cloudflare-ip-ranges",
        }
    if token == "cloudflare:index/getZone:getZone":
        name = (args.get("filter") or {}).get("name", "")
        return {"id": ZONE_ID, "zoneId": ZONE_ID, "name": name, "status": "active"}
    return {}
