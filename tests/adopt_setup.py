"""The adoption of production as tests set it up: every adoptable resource listed, host keys, the token."""

from __future__ import annotations

from typing import Any

from components.adoption import ADOPTABLE_TYPES
from offline.fakes import fake_ed25519_public_key
from offline.records import Plan

RUNNING_TOKEN = "K10abc123::server:running-cluster-token-0123456789"
SERVERS = ("honeydue-1", "honeydue-2", "honeydue-3")
# Production has no Hetzner SSH key of the stack's deploy key: the targeted `up` before adoption creates it
# with the deploy key itself (tools/adopt_keys.py --targets), so the import preview finds it in state.
CREATED_BEFORE = ("honeydue-deploy", "hcloud:index/sshKey:SshKey")


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
