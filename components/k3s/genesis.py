"""Which server starts the cluster (K3s `cluster-init`) and which server a joining server joins. Pure.

`cluster-init` on a server without etcd data starts a NEW etcd cluster. So the role is decided once: at
the stack's first `up` the first server starts the cluster, and the stack exports that server's Hetzner id
(`k3sGenesis`). Every later `up` reads it back from the stack's own outputs: only the server with that id
keeps `cluster-init` (its config.yaml never changes, so it is never restarted for it); any other server,
also a new machine under server 1's name, joins. List position decides nothing after the first `up`.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.k3s.node import K3sRole


def server_role(index: int, count: int, server_id: str, genesis: str | None) -> K3sRole:
    """Role of server `index` (0-based) of `count`, given its Hetzner id and the recorded genesis id.

    One server has nobody to join: a replaced single server starts a new cluster (restore from a snapshot,
    docs/runbook.md). No recorded genesis (first `up`, or a stack from before this record): the first
    server, as it always was.
    """
    if count == 1:
        return "init"
    if genesis is None:
        return "init" if index == 0 else "join"
    return "init" if server_id == genesis else "join"


def genesis_of(server_ids: Sequence[str], previous: str | None) -> str:
    """The id to record: the server that runs with `cluster-init` in this `up`, else the recorded one."""
    count = len(server_ids)
    for index, server_id in enumerate(server_ids):
        if server_role(index, count, server_id, previous) == "init":
            return server_id
    if previous is None:  # unreachable: without a record the first server is init
        raise ValueError("no server starts the cluster")
    return previous


def join_target(index: int, private_ips: Sequence[str]) -> str:
    """Private IP a joining server `index` (0-based) joins: server 1's, and server 2's for server 1 itself.

    Fixed addresses, so a server's config.yaml never changes because another server was replaced; any
    member will do, since etcd membership and the API are the cluster's, not one server's.
    """
    if len(private_ips) < 2:
        raise ValueError("a single server has no other server to join")
    return private_ips[1] if index == 0 else private_ips[0]
