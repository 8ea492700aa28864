"""The one place that reads and validates stack config.

Every key is read once into frozen dataclasses. All problems are collected and raised together as a
`ConfigError` (a `pulumi.RunError`, which the CLI prints without a traceback) before any resource is
created. Defaults live in Pulumi.yaml only: the CLI (and the offline harness) applies them.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping

import pulumi

from components.config import credentials
from components.config.model import StackConfig
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

# The providers' credentials: read by each provider plugin from the environment of the run, which the CLI
# fills from the stack's ESC environment (`environmentVariables`, set with os.Setenv before the program and
# the plugins start: pulumi/pulumi pkg/cmd/pulumi/config/io.go). Never provider inputs: those are written to
# the state in every checkpoint, where a Stack Read token exports them and a `preview --refresh` without the
# program would refresh with them (pulumi/esc#199). The bridged providers' CheckConfig returns the inputs it
# was given (pulumi-terraform-bridge pkg/tfbridge/provider.go CheckConfig), so an environment token is not
# copied into them either. The program only checks them, before anything is created.
PROVIDER_TOKENS = {
    "HCLOUD_TOKEN": (credentials.HETZNER, "the hcloud provider reads it (ESC: environmentVariables.HCLOUD_TOKEN)"),
    "CLOUDFLARE_API_TOKEN": (
        credentials.CLOUDFLARE,
        "the cloudflare provider reads it (ESC: environmentVariables.CLOUDFLARE_API_TOKEN)",
    ),
}


def load_stack_config(
    values: Mapping[str, str],
    *,
    secret_keys: Collection[str],
    stack: str,
    foreign_keys: Collection[str] = (),
    environ: Mapping[str, str] | None = None,
) -> StackConfig:
    """Reads and validates every key; `values` are raw strings by key without the namespace prefix;
    `foreign_keys` full keys of the stack config in a namespace neither ours nor a provider's; `environ` the
    run's environment, for the providers' tokens (PROVIDER_TOKENS)."""
    r = Reader(values, secret_keys, environ)
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
    for name, (shape, where) in PROVIDER_TOKENS.items():
        r.environment_token(name, shape, where)
    k3s = read_k3s(r)
    config = StackConfig(
        stack=stack,
        nodes=read_nodes(r),
        k3s=k3s,
        apps=read_apps(r),
        services=read_services(r),
        edge=read_edge(r),
        # Redis snapshots go to the etcd snapshot bucket: its key is needed exactly when that bucket is set.
        maintenance=read_maintenance(r, offsite=k3s.etcd_s3 is not None),
        adopt=read_adopt(r),
        deploy_key_first=r.boolean("adoptDeployKeyFirst"),
        preview_without_secrets=r.boolean("previewWithoutSecrets"),
    )
    if config.deploy_key_first and (config.adopt or config.nodes.adopted_host_keys):
        # docs/migration.md step 3: the key first, then the pins and the ids together. Pins or ids already set
        # mean an adoption was tried: the stack may hold resources this mode would delete.
        r.problem(
            "adoptDeployKeyFirst",
            "comes before the adoption: unset it, or unset adoptIds and adoptedHostKeys if no adoption ran yet",
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
    found = [(name, name, r.environ[name]) for name in r.environment_names if r.environ.get(name)]
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
        elif (first[value], key) == ("HCLOUD_TOKEN", "hcloudCsiToken"):
            r.problem(key, "is the same token as HCLOUD_TOKEN; create a separate Hetzner API token for the CSI driver")
        else:
            subject = "holds the same value as" if what == key else f"has {what} equal to"
            r.problem(key, f"{subject} {first[value]}; give every role its own credential")


def load_from_pulumi() -> StackConfig:
    """Reads this program's namespace of the stack config the engine passed in."""
    values, secrets = namespace_config(NAMESPACE)
    return load_stack_config(
        values,
        secret_keys=secrets,
        stack=pulumi.get_stack(),
        foreign_keys=foreign_config_keys(NAMESPACE),
        environ=os.environ,
    )
