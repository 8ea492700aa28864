"""Plain manifests from the pure builders, registered as typed pulumi-kubernetes resources."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# The kinds our builders produce; a new kind must be added here on purpose.
KINDS: dict[tuple[str, str], type[pulumi.CustomResource]] = {
    ("v1", "Namespace"): k8s.core.v1.Namespace,
    ("v1", "ConfigMap"): k8s.core.v1.ConfigMap,
    ("v1", "Secret"): k8s.core.v1.Secret,
    ("v1", "Service"): k8s.core.v1.Service,
    ("v1", "ServiceAccount"): k8s.core.v1.ServiceAccount,
    ("apps/v1", "Deployment"): k8s.apps.v1.Deployment,
    ("apps/v1", "StatefulSet"): k8s.apps.v1.StatefulSet,
    ("apps/v1", "DaemonSet"): k8s.apps.v1.DaemonSet,
    ("batch/v1", "CronJob"): k8s.batch.v1.CronJob,
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): k8s.rbac.v1.ClusterRole,
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): k8s.rbac.v1.ClusterRoleBinding,
    ("rbac.authorization.k8s.io/v1", "Role"): k8s.rbac.v1.Role,
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): k8s.rbac.v1.RoleBinding,
    ("storage.k8s.io/v1", "StorageClass"): k8s.storage.v1.StorageClass,
    ("storage.k8s.io/v1", "CSIDriver"): k8s.storage.v1.CSIDriver,
    ("policy/v1", "PodDisruptionBudget"): k8s.policy.v1.PodDisruptionBudget,
    ("networking.k8s.io/v1", "NetworkPolicy"): k8s.networking.v1.NetworkPolicy,
    ("networking.k8s.io/v1", "Ingress"): k8s.networking.v1.Ingress,
}


# Custom resources (K3s's and Traefik's CRDs): registered untyped, the SDK has no class for them.
CUSTOM_KINDS = frozenset({("helm.cattle.io/v1", "HelmChartConfig"), ("traefik.io/v1alpha1", "Middleware")})


# Fields the API server refuses to change (422) that pulumi-kubernetes would send as an in-place update, which
# then fails: its forceNew table has only StorageClass parameters/provisioner and no CSIDriver row
# (provider/pkg/provider/diff.go). replaceOnChanges makes an edit of them a replacement instead
# (kubernetes v1.34 pkg/apis/storage/validation: ValidateStorageClassUpdate, ValidateCSIDriverUpdate), and
# delete_before_replace deletes the old object first: the provider asks for that only when its own table
# forced the replacement (provider.go L1647-L1658), and a second object of the same name fails AlreadyExists.
API_IMMUTABLE: dict[str, list[str]] = {
    "StorageClass": ["reclaimPolicy", "volumeBindingMode"],
    "CSIDriver": ["spec.attachRequired", "spec.volumeLifecycleModes"],
}


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", key).lower()


def resource_name(manifest: Mapping[str, Any]) -> str:
    """Stable logical name: namespace, kind and object name (the object name itself is explicit)."""
    meta = manifest["metadata"]
    return "-".join(p for p in (meta.get("namespace"), manifest["kind"].lower(), meta["name"]) if p)


def create_object(
    manifest: Mapping[str, Any],
    opts: pulumi.ResourceOptions,
    string_data: Mapping[str, pulumi.Input[str]] | None = None,
) -> pulumi.CustomResource:
    """Registers one manifest; `string_data` fills a Secret shell with secret Outputs."""
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    if (api_version, kind) in CUSTOM_KINDS:
        custom: pulumi.CustomResource = k8s.apiextensions.CustomResource(
            resource_name(manifest),
            api_version=api_version,
            kind=kind,
            metadata=manifest["metadata"],
            spec=manifest["spec"],
            opts=opts,
        )
        return custom
    cls = KINDS.get((api_version, kind))
    if cls is None:
        raise ValueError(f"no resource class for {api_version} {kind}; add it to KINDS")
    fields = {_snake(k): v for k, v in manifest.items() if k not in ("apiVersion", "kind")}
    if kind == "Secret":
        shell_keys = set(fields.get("string_data") or {})
        if set(string_data or {}) != shell_keys:
            raise ValueError(f"secret {manifest['metadata']['name']}: values for {sorted(shell_keys)} expected")
        if shell_keys:  # a service-account-token Secret has none: the token controller fills `data`
            fields["string_data"] = {k: pulumi.Output.secret(v) for k, v in (string_data or {}).items()}
    if kind in API_IMMUTABLE:
        immutable = pulumi.ResourceOptions(replace_on_changes=API_IMMUTABLE[kind], delete_before_replace=True)
        opts = pulumi.ResourceOptions.merge(opts, immutable)
    return cls(resource_name(manifest), **fields, opts=opts)
