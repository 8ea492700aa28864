"""The hand-built production as the offline world holds it, and its adoption: every adoptable resource
listed with the id its provider knows it by, the host keys, the running token, and the values the
hand-built resources hold where they differ from what the program sets (what an import reads back)."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from components.adoption import ADOPTABLE_TYPES
from offline.engine_model import path_under
from offline.fakes import fake_ed25519_public_key
from offline.records import Plan, Registration
from offline.side_effects import imported_inputs

RUNNING_TOKEN = "K10abc123::server:running-cluster-token-0123456789"
SERVERS = ("honeydue-1", "honeydue-2", "honeydue-3")
# Production has no Hetzner SSH key of the stack's deploy key: the deploy key's own `up` before adoption
# creates it with the key itself (adoptDeployKeyFirst, deploy_key_first), so the import preview finds it in state.
CREATED_BEFORE = ("honeydue-deploy", "hcloud:index/sshKey:SshKey")


@functools.cache
def deploy_key_first(stack: str) -> Plan:
    """What the deploy key's own `up` leaves in the state before the adoption (docs/migration.md step 3)."""
    from offline.harness import run_program  # the harness builds on this module's neighbours, not on it

    return run_program(stack, {"adoptDeployKeyFirst": True, "k3sToken": RUNNING_TOKEN})


def adoptable(plan: Plan) -> dict[str, str]:
    """Name -> type of every registration of an importable type."""
    return {r.name: r.type for r in plan.registrations if r.type in ADOPTABLE_TYPES}


def import_id(index: int, type_: str) -> str:
    """Ids as the providers know them: Hetzner's are numbers (a subnet's is <network id>-<ip range>), Cloudflare's
    are <zone id>/<id>."""
    if type_ == "hcloud:index/networkSubnet:NetworkSubnet":
        return "1000-10.0.1.0/24"
    return f"{1000 + index}" if type_.startswith("hcloud:") else f"0123456789abcdef0123456789abcdef/{index:032x}"


def host_key(server: str) -> str:
    """The host key a hand-built server had (ssh-keyscan: type and body)."""
    return fake_ed25519_public_key(f"hand-built-{server}")


def adopt_overrides(plan: Plan, **extra: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """Config that adopts everything of `plan` (a plan without adoption), and the ids it uses."""
    ids = {
        name: import_id(i, type_)
        for i, (name, type_) in enumerate(sorted(adoptable(plan).items()))
        if (name, type_) != CREATED_BEFORE
    }
    overrides: dict[str, Any] = {
        "adoptIds": [f"{name}={value}" for name, value in ids.items()],
        "adoptedHostKeys": [f"{server}={host_key(server)}" for server in SERVERS],
        "k3sToken": RUNNING_TOKEN,
    }
    return overrides | extra, ids


# What each hand-built resource holds where production was set up otherwise than the program would: no
# labels, no protection, Hetzner backups on, no placement group, no firewall, other names, DNS records
# without comments on automatic TTL, zone settings as an older zone has them (HAND_BUILT_SETTINGS).
HAND_BUILT: dict[str, dict[str, Any]] = {
    "hcloud:index/server:Server": {
        "labels": {}, "deleteProtection": False, "rebuildProtection": False, "backups": True,
        "placementGroupId": None, "firewallIds": [],
    },
    "hcloud:index/network:Network": {"name": "prod-net", "labels": {}, "deleteProtection": False},
    "hcloud:index/networkSubnet:NetworkSubnet": {},
    "hcloud:index/placementGroup:PlacementGroup": {"name": "spread", "labels": {}},
    "hcloud:index/sshKey:SshKey": {"name": "laptop", "labels": {}},
    "hcloud:index/firewall:Firewall": {"name": "prod-fw", "labels": {}},
    "cloudflare:index/dnsRecord:DnsRecord": {"comment": None, "ttl": 1},
    "cloudflare:index/zoneSetting:ZoneSetting": {},
}  # fmt: skip
HAND_BUILT_SETTINGS = {
    "ssl_automatic_mode": "auto",  # Cloudflare's default since its 2024 rollout
    "0rtt": "on",  # off by default (Cloudflare's 0-RTT docs); on here as the worst case an older zone may hold
    "tls_1_3": "zrt",  # what the API reads while 0-RTT is on (offline.side_effects.zone_setting_read)
    "always_use_https": "off",
    # min_tls_version is absent: production already holds the program's 1.2, an adopted setting whose options
    # alone change when adoption ends (scenario adopt-ends).
}
"""Setting id -> the value the hand-built zone holds where it differs from the program's (`ssl` matches: sslMode)."""


def hand_built(reg: Registration) -> dict[str, Any]:
    """What the live resource behind `reg` holds where it differs from the program's inputs."""
    live = dict(HAND_BUILT[reg.type])
    setting = HAND_BUILT_SETTINGS.get(str(reg.inputs.get("settingId")))
    if reg.type == "cloudflare:index/zoneSetting:ZoneSetting" and setting is not None:
        live["value"] = setting
    return live


def live_of(plan: Plan) -> dict[str, dict[str, Any]]:
    """URN -> hand-built values of every resource `plan` imports (for engine_diff.diff_plans(live=...))."""
    return {r.urn: hand_built(r) for r in plan.registrations if r.import_id}


def state_after_import(reg: Registration) -> Registration:
    """`reg` as the state holds it after the adoption `up`: what the Read wrote where ignoreChanges held it
    (absent where the Read writes nothing), the program's inputs elsewhere (the update after the import)."""
    read = imported_inputs(reg.type, reg.inputs, hand_built(reg))
    inputs = dict(reg.inputs)
    for key in sorted(set(inputs) | set(read)):
        if any(path_under(pattern, key) for pattern in reg.ignore_changes):
            if key in read:
                inputs[key] = read[key]
            else:
                inputs.pop(key, None)
    return dataclasses.replace(reg, inputs=inputs)
