"""Small helpers shared by the policies: reading nested props, config and the stack of a resource.

`props` arrive as pulumi_policy's unknown-checking proxies (collections.abc Mapping/Sequence, not dict and
list): reading a value that is unknown during preview raises UnknownValueError, which the SDK turns into
an advisory "can't run during preview" note; the same policy runs again with known values at `up`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from pulumi_policy import ResourceValidationArgs

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def get(value: Any, *path: str | int, default: Any = None) -> Any:
    """value[path[0]][path[1]]…, or `default` where a step is missing or of the wrong shape."""
    for step in path:
        found = (isinstance(step, str) and isinstance(value, Mapping) and step in value) or (
            isinstance(step, int) and is_list(value) and -len(value) <= step < len(value)
        )
        if not found:
            return default
        value = value[step]
    return value


def is_list(value: Any) -> bool:
    """A JSON array (a Sequence that is not a string)."""
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


def items(value: Any) -> Iterator[Any]:
    """The elements of a JSON array; nothing for anything else."""
    if is_list(value):
        yield from value


def stack_of(urn: str) -> str:
    """The stack part of `urn:pulumi:<stack>::<project>::<type>::<name>`."""
    head = urn.split("::", 1)[0]
    parts = head.split(":", 2)
    return parts[2] if len(parts) == 3 and parts[:2] == ["urn", "pulumi"] else ""


def config(args: ResourceValidationArgs, key: str, default: Any) -> Any:
    """A policy config value (`pulumi preview --policy-pack-config`), or the default."""
    value = (args.get_config() or {}).get(key)
    return default if value is None else value


def networks(cidrs: Sequence[str]) -> list[Network]:
    """Parsed CIDRs (host bits allowed)."""
    return [ipaddress.ip_network(c, strict=False) for c in cidrs]


def inside(cidr: str, allowed: Sequence[Network]) -> bool:
    """Whether `cidr` lies wholly inside one of `allowed`; an unparseable CIDR is never inside."""
    try:
        net = ipaddress.ip_network(cidr, strict=False)
    except ValueError:
        return False
    return any(net.version == a.version and net.subnet_of(a) for a in allowed)  # type: ignore[arg-type]
