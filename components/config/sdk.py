"""The one adapter between this program and the SDK's config store.

The SDK's public API reads config key by key (`pulumi.Config`, `pulumi.runtime.get_config`,
`pulumi.runtime.is_config_secret`); to report unknown keys (typos) the program must see every key of its
namespace, which only the store itself holds: `pulumi.runtime.config.CONFIG` (set by the language host
through `set_all_config`) and the PULUMI_CONFIG environment of older CLIs (`get_config_env`).
tests/test_config_sdk.py fails loudly when an SDK upgrade changes any of this.
"""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi import runtime
from pulumi.runtime import config as runtime_config
from pulumi.runtime.sync_await import _sync_await


def namespace_config(namespace: str) -> tuple[dict[str, str], set[str]]:
    """Every raw value of `namespace` by short key, and the short keys the engine marks secret."""
    prefix = namespace + ":"
    everything = {**runtime.get_config_env(), **runtime_config.CONFIG.get()}
    values = {k[len(prefix) :]: str(v) for k, v in everything.items() if k.startswith(prefix)}
    from_env = set(runtime.get_config_secret_keys_env())
    secrets = {k for k in values if f"{prefix}{k}" in from_env or runtime.is_config_secret(f"{prefix}{k}")}
    return values, secrets


# Namespaces a stack file may hold besides this program's: the providers' own settings and Pulumi's.
OTHER_NAMESPACES = frozenset({"pulumi", "hcloud", "cloudflare", "kubernetes", "command", "tls", "random"})


def foreign_config_keys(namespace: str) -> list[str]:
    """Full keys of the stack config in no namespace this stack knows: a misspelt `honeydue:` is ignored by
    namespace_config, and would silently leave the setting at its default."""
    everything = {**runtime.get_config_env(), **runtime_config.CONFIG.get()}
    return sorted(key for key in everything if key.partition(":")[0] not in {namespace, *OTHER_NAMESPACES})


def stack_output_now(reference: pulumi.StackReference, name: str) -> Any:
    """The value of an output of `reference` as a plain value (None when absent or not known), now.

    `StackReference.get_output_details` is a coroutine; a program's top level is synchronous, and the SDK
    resolves its own synchronous invokes (e.g. `cloudflare.get_ip_ranges`) through `_sync_await`, which
    re-enters the running event loop. The program needs the value before it registers anything else, so
    that a refused upgrade (components.config.checks.k3s_upgrade) fails before the first resource.
    """
    details = _sync_await(reference.get_output_details(name))
    return details.value if details.value is not None else details.secret_value
