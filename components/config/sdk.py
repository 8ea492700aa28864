"""The one adapter between this program and the SDK's config store.

The SDK's public API reads config key by key (`pulumi.Config`, `pulumi.runtime.get_config`,
`pulumi.runtime.is_config_secret`); to report unknown keys (typos) the program must see every key of its
namespace, which only the store itself holds: `pulumi.runtime.config.CONFIG` (set by the language host
through `set_all_config`) and the PULUMI_CONFIG environment of older CLIs (`get_config_env`).
tests/test_config_sdk.py fails loudly when an SDK upgrade changes any of this.
"""

from __future__ import annotations

from pulumi import runtime
from pulumi.runtime import config as runtime_config


def namespace_config(namespace: str) -> tuple[dict[str, str], set[str]]:
    """Every raw value of `namespace` by short key, and the short keys the engine marks secret."""
    prefix = namespace + ":"
    everything = {**runtime.get_config_env(), **runtime_config.CONFIG.get()}
    values = {k[len(prefix) :]: str(v) for k, v in everything.items() if k.startswith(prefix)}
    from_env = set(runtime.get_config_secret_keys_env())
    secrets = {k for k in values if f"{prefix}{k}" in from_env or runtime.is_config_secret(f"{prefix}{k}")}
    return values, secrets
