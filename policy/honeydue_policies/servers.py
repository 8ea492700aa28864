"""Production servers are protected against deletion and rebuild and spread over hosts."""

from __future__ import annotations

from collections.abc import Iterator

from pulumi_policy import ResourceValidationArgs

from honeydue_policies.common import config, get, stack_of

SERVER_TYPE = "hcloud:index/server:Server"
DEFAULT_PRODUCTION_STACKS = ("prod",)


def check(args: ResourceValidationArgs) -> Iterator[str]:
    """In a production stack (from the URN; policy config `productionStacks`), every hcloud server has
    Hetzner delete and rebuild protection, Pulumi `protect`, and a placement group.

    A server holds one third of etcd: deleting or rebuilding one by mistake costs quorum margin, and
    two on the same physical host (no spread placement group) can fail together and lose quorum.
    A server labelled replaceable=true was released on purpose (config replaceableNodes: a replacement or a
    scale-in follows) and may go without the protections; the placement group holds for it too.
    """
    if args.resource_type != SERVER_TYPE:
        return
    stack = stack_of(args.urn)
    if stack not in config(args, "productionStacks", DEFAULT_PRODUCTION_STACKS):
        return
    label = f"server {args.name} in stack {stack}"
    released = get(args.props, "labels", "replaceable") == "true"
    for field in () if released else ("deleteProtection", "rebuildProtection"):
        if get(args.props, field) is not True:
            yield f"{label}: {field} must be true (Hetzner refuses to delete/rebuild it)"
    if not args.opts.protect and not released:
        yield f"{label}: must be protected (ResourceOptions(protect=True)) so `pulumi` never deletes it"
    if get(args.props, "placementGroupId") in (None, "", 0):
        yield f"{label}: has no placementGroupId; servers must sit in the spread placement group"
