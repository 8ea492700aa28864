"""Cluster access for other teams: a ServiceAccount limited to the apps' namespace, read-only.

Pure data, no Pulumi. The stack exports no root credential (docs/outputs.md); a consumer that needs the
cluster gets `appKubeconfig`: the token of ServiceAccount `honeydue-consumer`, bound by a RoleBinding
(never a ClusterRoleBinding) to the built-in ClusterRole `view` in the apps' namespace only. `view`
reads workloads, Services, ConfigMaps, events and logs, but not Secrets
(https://kubernetes.io/docs/reference/access-authn-authz/rbac/#user-facing-roles). The token comes from a
`kubernetes.io/service-account-token` Secret: it does not expire, and pulumi-kubernetes waits until the
token controller has filled it (provider/pkg/await/awaiters.go, untilCoreV1SecretInitialized).
"""

from __future__ import annotations

import yaml

from components.k8s.spec import PART_OF, Manifest, labels, metadata
from components.yaml_text import dump_quoted

CONSUMER = "honeydue-consumer"
"""The ServiceAccount (and RoleBinding) other teams act as."""
CONSUMER_TOKEN_SECRET = f"{CONSUMER}-token"
CONSUMER_ROLE = "view"


def consumer_access_objects(namespace: str) -> list[Manifest]:
    """ServiceAccount, its namespaced `view` RoleBinding and its token Secret, in `namespace`."""
    object_labels = labels(CONSUMER, "access", namespace)
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(CONSUMER, namespace, object_labels),
        # No pod runs as it.
        "automountServiceAccountToken": False,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": metadata(CONSUMER, namespace, object_labels),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CONSUMER_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": CONSUMER, "namespace": namespace}],
    }
    token_meta = metadata(CONSUMER_TOKEN_SECRET, namespace, labels(PART_OF, "access", namespace))
    token_meta["annotations"] = {"kubernetes.io/service-account.name": CONSUMER}
    token = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": token_meta,
        "type": "kubernetes.io/service-account-token",
    }
    return [account, binding, token]


def namespace_kubeconfig(cluster_kubeconfig: str, token: str, namespace: str) -> str:
    """A kubeconfig for the consumer: the cluster entry (server, CA) of `cluster_kubeconfig`, `token` as
    the user, `namespace` as the default. Nothing of `cluster_kubeconfig`'s own user is carried over."""
    if not token:
        raise ValueError("the consumer token is empty")
    document = yaml.safe_load(cluster_kubeconfig)
    clusters = document.get("clusters") if isinstance(document, dict) else None
    if not clusters:
        raise ValueError("the cluster kubeconfig has no clusters")
    cluster = {k: v for k, v in clusters[0]["cluster"].items() if k in ("server", "certificate-authority-data")}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": PART_OF, "cluster": cluster}],
        "users": [{"name": CONSUMER, "user": {"token": token}}],
        "contexts": [{"name": CONSUMER, "context": {"cluster": PART_OF, "user": CONSUMER, "namespace": namespace}}],
        "current-context": CONSUMER,
    }
    return dump_quoted(config, sort_keys=False)
