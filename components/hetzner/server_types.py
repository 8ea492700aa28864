"""The server types the config names, as Hetzner offers them: looked up before anything is registered.

The grammar of a type name (components/config/checks.SERVER_TYPE) can't tell `cx99` from `cx33`, nor whether a
type is sold in the configured location or being retired: Hetzner refuses such a server at create, after the
network, firewall and keys of the same `up` exist. The provider's data source answers from the API
(pulumi-hcloud getServerType: architecture, and per location `available` and `isDeprecated`).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_hcloud as hcloud

from components.config.model import NodesConfig
from components.config.reader import NAMESPACE


def server_type_problems(provider: hcloud.Provider, nodes: NodesConfig) -> list[str]:
    """Every problem of the configured server types: unknown, not offered in the location, deprecated there,
    or of another CPU architecture than the servers'."""
    wanted = {"serverType": nodes.server_type}
    if nodes.agent_count:
        wanted["agentServerType"] = nodes.agent_server_type
    problems: list[str] = []
    architectures: dict[str, str] = {}
    for key, name in wanted.items():
        try:
            found = hcloud.get_server_type(name=name, opts=pulumi.InvokeOptions(provider=provider))
        except Exception as error:  # the invoke's own error: unknown name, or the API refused the token
            # An unknown name, or a token the API refused: the provider's own words say which.
            problems.append(
                f"{NAMESPACE}:{key}: the lookup of server type {name!r} failed: {str(error).splitlines()[0]}"
            )
            continue
        architectures[key] = found.architecture
        problems += _location_problems(key, name, nodes.location, found.locations or [])
    if len(set(architectures.values())) > 1:
        problems.append(
            f"{NAMESPACE}:agentServerType: {nodes.agent_server_type} is {architectures['agentServerType']}, "
            f"the servers' {nodes.server_type} {architectures['serverType']}: pods would not start on one of them"
        )
    return problems


def _location_problems(key: str, name: str, location: str, locations: list[Any]) -> list[str]:
    here = next((entry for entry in locations if _field(entry, "name") == location), None)
    if here is None or not _field(here, "available"):
        offered = ", ".join(sorted(str(_field(e, "name")) for e in locations if _field(e, "available"))) or "nowhere"
        return [f"{NAMESPACE}:{key}: {name} is not offered in {location} (offered in {offered})"]
    if _field(here, "is_deprecated"):
        until = _field(here, "unavailable_after") or "soon"
        return [
            f"{NAMESPACE}:{key}: {name} is deprecated in {location} (unavailable after {until}); pick its successor"
        ]
    return []


def _field(entry: Any, name: str) -> Any:
    """A field of a location entry (a typed result, or the plain dict the mock engine hands back)."""
    if isinstance(entry, dict):
        camel = "".join(part.capitalize() if i else part for i, part in enumerate(name.split("_")))
        return entry.get(name, entry.get(camel))
    return getattr(entry, name, None)
