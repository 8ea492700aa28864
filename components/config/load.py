"""The one place that reads and validates stack config.

Every key is read once into frozen dataclasses. All problems are collected and raised together as a
`ConfigError` (a `pulumi.RunError`, which the CLI prints without a traceback) before any resource is
created. Defaults live in Pulumi.yaml only: the CLI (and the offline harness) applies them.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import pulumi

from components.config import credentials
from components.config.model import Credentials, StackConfig
from components.config.read_apps import (
    check_buckets,
    check_hostnames,
    read_adopt,
    read_apps,
    read_edge,
    read_maintenance,
    read_services,
)
from components.config.read_cluster import check_networks, read_k3s, read_nodes
from components.config.reader import NAMESPACE, ConfigError, Kind, Reader
from components.config.sdk import foreign_config_keys, namespace_config


def load_stack_config(
    values: Mapping[str, str], *, secret_keys: Collection[str], stack: str, foreign_keys: Collection[str] = ()
) -> StackConfig:
    """Reads and validates every key; `values` are raw strings by key without the namespace prefix;
    `foreign_keys` full keys of the stack config in a namespace neither ours nor a provider's."""
    r = Reader(values, secret_keys)
    config = _read_all(r, stack)
    r.unknown_keys()
    r.foreign_keys(foreign_keys)
    if r.problems or r.missing_secrets:
        raise ConfigError(r.problems, r.missing_secrets)
    return config


def key_kinds() -> dict[str, tuple[Kind, bool]]:
    """Every key the program reads, with its kind and whether it is a secret (for the schema test)."""
    r = Reader({}, ())
    _read_all(r, "")
    return r.kinds


def _read_all(r: Reader, stack: str) -> StackConfig:
    config = StackConfig(
        stack=stack,
        credentials=Credentials(
            hcloud_token=r.secret("hcloudToken", token=credentials.HETZNER),
            cloudflare_api_token=r.secret("cloudflareApiToken", token=credentials.CLOUDFLARE),
        ),
        nodes=read_nodes(r),
        k3s=read_k3s(r),
        apps=read_apps(r),
        services=read_services(r),
        edge=read_edge(r),
        maintenance=read_maintenance(r),
        adopt=read_adopt(r),
    )
    check_networks(r, config)
    check_hostnames(r, config)
    check_buckets(r, config)
    _check_roles(r)
    return config


# Secrets that are not credentials: a user name may well be spelled like another value.
NOT_CREDENTIALS = frozenset({"smtpUsername"})


def _credentials(r: Reader) -> list[tuple[str, str, str]]:
    """(key, what, value) of every credential set, the database URL's password included as one of its own."""
    found = []
    for key, (_, secret) in r.kinds.items():
        value = r.values.get(key, "").strip()
        if secret and value and key not in NOT_CREDENTIALS:
            found.append((key, key, value))
            password = credentials.url_password(value) if key == "databaseUrl" else ""
            if password:
                found.append((key, "the password in databaseUrl", password))
    return found


def _check_roles(r: Reader) -> None:
    """A credential serves one role, so it is revoked or rotated alone: no secret value is set under two keys.
    The cluster's CSI token above all must never be the stack's own Hetzner token (which can also delete the
    servers), nor the B2 upload key the etcd snapshots' (whoever reads the apps' Secret could delete them)."""
    first: dict[str, str] = {}
    for key, what, value in _credentials(r):
        if value not in first:
            first[value] = what
        elif (first[value], key) == ("hcloudToken", "hcloudCsiToken"):
            r.problem(key, "is the same token as hcloudToken; create a separate Hetzner API token for the CSI driver")
        else:
            subject = "holds the same value as" if what == key else f"has {what} equal to"
            r.problem(key, f"{subject} {first[value]}; give every role its own credential")


def load_from_pulumi() -> StackConfig:
    """Reads this program's namespace of the stack config the engine passed in."""
    values, secrets = namespace_config(NAMESPACE)
    return load_stack_config(
        values, secret_keys=secrets, stack=pulumi.get_stack(), foreign_keys=foreign_config_keys(NAMESPACE)
    )
