"""Previews without the apps' secrets (issue 22 item 3): the read-only ESC environment holds none of them.

A pull-request preview runs the PR's code, so its environment (`honeydue/prod-readonly`) holds read-only
provider tokens and, for every secret the program reads, a placeholder of the right shape: never the database
URL, the CSI token, the S3/B2 keys or the K3s token. With `previewWithoutSecrets` the program still renders
everything, and tells the engine to keep the running value wherever a secret reaches an input, so a
placeholder never shows as a change: the Secrets' `stringData`, the node steps' `stdin` (K3s token, etcd S3
keys) and the secret digest on pod templates. What the engine compares there is what the state holds
(`ignore_changes`: pulumi/pulumi step_generator.go takes the old value of an ignored path). The price: such a
preview does not show a secret's content or new keys in it; the offline plan diff (secrets as digests) does.
A real `up` never runs in this mode (build() refuses it outside a preview).
"""

from __future__ import annotations

import pulumi

from components.k8s.checksums import SECRET_ANNOTATION

_POD_DIGEST = f'spec.template.metadata.annotations["{SECRET_ANNOTATION}"]'
# Where a secret of the stack config reaches a resource's inputs, by type (tests/test_preview_mode.py finds
# every such place in the plan and holds this table to it).
SECRET_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Secret": ("stringData", "data"),
    "command:remote:Command": ("stdin",),
    "kubernetes:apps/v1:Deployment": (_POD_DIGEST,),
    "kubernetes:apps/v1:StatefulSet": (_POD_DIGEST,),
    "kubernetes:apps/v1:DaemonSet": (_POD_DIGEST,),
}


def keep_running_secrets(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
    """A stack transformation: the secret-bearing paths of `args`' type are kept as the state holds them."""
    paths = SECRET_PATHS.get(args.type_)
    if not paths:
        return None
    kept = list(dict.fromkeys([*(args.opts.ignore_changes or []), *paths]))
    return pulumi.ResourceTransformationResult(
        args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(ignore_changes=kept))
    )
