"""The credential Pulumi talks to the cluster with: a ServiceAccount token, not K3s's admin certificate.

Pure data, no Pulumi. K3s's admin kubeconfig (/etc/rancher/k3s/k3s.yaml) carries a client certificate
valid for 365 days; K3s renews it only when it restarts within 90 days of expiry
(https://docs.k3s.io/cli/certificate#client-and-server-certificates), and the copy Pulumi fetched once
would then expire silently a year after the first `up`. Instead, server 1 creates (with that admin
kubeconfig, which K3s keeps valid on the node itself) a ServiceAccount `pulumi-deployer` bound to
cluster-admin and a token Secret for it (`kubernetes.io/service-account-token`: the token controller
fills it with a token that has no expiry,
https://kubernetes.io/docs/concepts/security/service-accounts/#get-a-token). Such manually created
token Secrets are not the auto-generated legacy tokens LegacyServiceAccountTokenCleanUp deletes
(https://kubernetes.io/docs/reference/access-authn-authz/service-accounts-admin/#auto-cleaning-legacy-serviceaccount-tokens).
The printed kubeconfig keeps K3s's cluster entry (server and CA) as it is, so replacing the admin
credential by the token changes only the user: with the provider's clusterIdentifier set, a provider
update, never a replacement (see `cluster_identifier`). Rotating it: `pulumi up --replace` of the
kubeconfig step, which deletes and recreates the Secret (the old token dies with it).
"""

from __future__ import annotations

import re
from typing import Any

from components.remote import RemoteFile
from components.yaml_text import dump_quoted

DEPLOYER = "pulumi-deployer"
"""Name of the ServiceAccount and of its ClusterRoleBinding."""
DEPLOYER_NAMESPACE = "kube-system"
TOKEN_SECRET = f"{DEPLOYER}-token"
RBAC_PATH = "/etc/honeydue/deployer/rbac.yaml"
TOKEN_SECRET_PATH = "/etc/honeydue/deployer/token-secret.yaml"
# The CRDs K3s's helm-controller registers at startup; the HelmChartConfig of Traefik is one of them.
HELM_CRDS = ("helmcharts.helm.cattle.io", "helmchartconfigs.helm.cattle.io")
_LABELS = {
    "app.kubernetes.io/name": DEPLOYER,
    "app.kubernetes.io/part-of": "honeydue",
    # Created by the kubeconfig step on server 1, not by the Kubernetes provider.
    "app.kubernetes.io/managed-by": "honeydue-k3s",
}
_IDENTIFIER = re.compile(r"[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?", re.ASCII)


def deployer_rbac() -> list[dict[str, Any]]:
    """The ServiceAccount and its cluster-admin binding (Pulumi creates namespaces, CRs, kube-system Secrets)."""
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": DEPLOYER, "namespace": DEPLOYER_NAMESPACE, "labels": dict(_LABELS)},
        # Nothing runs as it: no pod ever mounts its token.
        "automountServiceAccountToken": False,
    }
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": DEPLOYER, "labels": dict(_LABELS)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": DEPLOYER, "namespace": DEPLOYER_NAMESPACE}],
    }
    return [account, binding]


def deployer_token_secret() -> dict[str, Any]:
    """The long-lived token Secret of the ServiceAccount; the token controller fills `data.token`."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": TOKEN_SECRET,
            "namespace": DEPLOYER_NAMESPACE,
            "labels": dict(_LABELS),
            "annotations": {"kubernetes.io/service-account.name": DEPLOYER},
        },
        "type": "kubernetes.io/service-account-token",
    }


def deployer_files() -> list[RemoteFile]:
    """The manifests deployer-kubeconfig.sh applies on server 1 (nothing secret in them)."""
    rbac = "---\n".join(dump_quoted(document, sort_keys=False) for document in deployer_rbac())
    return [
        RemoteFile(RBAC_PATH, "0644", rbac),
        RemoteFile(TOKEN_SECRET_PATH, "0644", dump_quoted(deployer_token_secret(), sort_keys=False)),
    ]


def cluster_identifier(project: str, stack: str) -> str:
    """The identity the Kubernetes provider keeps across kubeconfig changes: `<project>-<stack>`.

    pulumi-kubernetes replaces its provider, and with it every object, when the active cluster of the
    kubeconfig (server URL, CA) changes, unless `clusterIdentifier` is set: then only a change of the
    identifier replaces it (provider/pkg/provider/provider.go DiffConfig,
    https://github.com/pulumi/pulumi-kubernetes/blob/master/provider/pkg/provider/provider.go). A new
    API name, a new server 1 address or this token credential are then provider updates. Only a cluster
    rebuilt from nothing (not a restore) is a new identity: change this value on purpose then.
    """
    identifier = f"{project}-{stack}".lower()
    if not _IDENTIFIER.fullmatch(identifier):
        raise ValueError(f"cluster identifier {identifier!r} must be lower-case letters, digits, '.' and '-'")
    return identifier
