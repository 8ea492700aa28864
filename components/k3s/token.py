"""The cluster token: the running cluster's own (config `k3sToken`), or one the stack generates.

The choice follows whether `k3sToken` is set, never whether adoption is on: an adopted cluster keeps its
token after `adoptIds` is cleared, and a cluster the stack built keeps the generated one. Switching
either way would put another token into every node's config.yaml, and K3s refuses to start a server
whose token does not decrypt the cluster's bootstrap data (GUIDE.md section 6; k3s-io/k3s
pkg/cluster/storage.go, getBootstrapKeyFromStorage: "bootstrap data already found and encrypted with
different token"). So the stack records which one it used (stack output `k3sTokenSource`) and refuses a
switch before any step runs.
"""

from __future__ import annotations

from typing import Literal

import pulumi
import pulumi_random as random

from components.config.model import Secret

TOKEN_SOURCE_OUTPUT = "k3sTokenSource"
TokenSource = Literal["config", "random"]


class ClusterToken:
    """The token every node's config carries, and where it came from."""

    value: pulumi.Output[str]
    """The token, secret."""
    source: TokenSource

    def __init__(self, name: str, configured: Secret | None, parent: pulumi.Resource) -> None:
        self.source = "random" if configured is None else "config"
        if configured is None:
            # 64 alphanumerics, secret in state. Same name (URN) as before the configured token existed.
            token: pulumi.Output[str] = random.RandomPassword(
                f"{name}-token", length=64, special=False, opts=pulumi.ResourceOptions(parent=parent)
            ).result
        else:
            # No RandomPassword at all: nothing generated that an import or a later update could replace.
            token = configured.output()
        self.value = pulumi.Output.secret(token)
