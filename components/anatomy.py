"""What every component shares: how its children are parented and ordered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi


def child_options(
    parent: pulumi.Resource,
    opts: pulumi.ResourceOptions | None,
    *,
    depends_on: Sequence[pulumi.Resource | None] = (),
    **extra: Any,
) -> pulumi.ResourceOptions:
    """Options of a component's child: parented to it, and ordered after whatever the component is.

    The SDK registers children without their component's `depends_on`, so the engine would not wait for
    what a caller ordered the component after (e.g. the SSL switch); every child gets it explicitly.
    """
    given: Any = (opts.depends_on if opts else None) or []
    inherited: list[Any] = list(given) if isinstance(given, list) else [given]
    wanted = [*inherited, *(d for d in depends_on if d is not None)]
    return pulumi.ResourceOptions(parent=parent, depends_on=wanted or None, **extra)
