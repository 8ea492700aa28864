"""Checksums of what a pod reads, on its pod template, so a changed ConfigMap or Secret rolls the pods.

Pure, no Pulumi. Kubernetes does not restart pods when a ConfigMap or Secret they read changes: an
environment variable is read once at container start (https://kubernetes.io/docs/concepts/configuration/secret/#using-secrets-as-environment-variables),
and with the provider's `enableSecretMutable` (components/k3s/cluster.py) a rotated Secret is patched in
place rather than replaced. A digest of the content on the pod template changes the template, so the
Deployment or StatefulSet rolls in the same `up`, after the object it depends on was updated (the
pattern of Helm's docs, https://helm.sh/docs/howto/charts_tips_and_tricks/#automatically-roll-deployments).
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from typing import Any

CONFIG_ANNOTATION = "checksum/config"
"""Digest of the ConfigMaps the pod reads (plain data)."""
SECRET_ANNOTATION = "checksum/secret"
"""Digest of the Secrets the pod reads: a SHA-256, never a value."""


def pod_reads(manifest: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(ConfigMaps, Secrets) the pod template of a workload reads, sorted: envFrom, env valueFrom, volumes.

    Image-pull Secrets are left out: the kubelet reads them at each pull, a new registry token needs no
    restart.
    """
    pod = manifest["spec"]["template"]["spec"]
    configmaps: set[str] = set()
    secrets: set[str] = set()
    for container in [*pod.get("initContainers", []), *pod.get("containers", [])]:
        for source in container.get("envFrom", []):
            _add(source.get("configMapRef"), configmaps)
            _add(source.get("secretRef"), secrets)
        for variable in container.get("env", []):
            value_from = variable.get("valueFrom", {})
            _add(value_from.get("configMapKeyRef"), configmaps)
            _add(value_from.get("secretKeyRef"), secrets)
    for volume in pod.get("volumes", []):
        _add(volume.get("configMap"), configmaps)
        if "secret" in volume:
            secrets.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            _add(source.get("configMap"), configmaps)
            _add(source.get("secret"), secrets)
    return sorted(configmaps), sorted(secrets)


def _add(reference: Mapping[str, Any] | None, into: set[str]) -> None:
    if reference is not None:
        into.add(reference["name"])


def digest(contents: Mapping[str, Mapping[str, str]]) -> str:
    """SHA-256 (hex) of object name -> key -> value, canonical: same content, same digest."""
    canonical = json.dumps(contents, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def with_template_annotations(manifest: Mapping[str, Any], annotations: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a workload manifest whose pod template carries `annotations` (values may be Outputs)."""
    result = copy.deepcopy(dict(manifest))
    template_meta = result["spec"]["template"].setdefault("metadata", {})
    template_meta["annotations"] = {**template_meta.get("annotations", {}), **annotations}
    return result
