"""The parts every Honeydue workload is built from: labels, security contexts, probes, pod specs,
ServiceAccount, Service, PodDisruptionBudget and Deployment (pure data, no Pulumi)."""

from __future__ import annotations

from typing import Any

from components.k8s.spec import (
    ADMIN,
    API,
    CONFIGMAP,
    REDIS,
    REGISTRY_SECRET,
    WORKER,
    AppsSpec,
    Manifest,
    labels,
    metadata,
    selector,
)

COMPONENTS = {API: "server", ADMIN: "frontend", WORKER: "worker", REDIS: "cache"}


def app_labels(spec: AppsSpec, name: str) -> dict[str, str]:
    return labels(name, COMPONENTS[name], spec.apps.namespace)


def container_security_context() -> dict[str, Any]:
    """What Pod Security `restricted` asks of every container, plus a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def http_probe(path: str, period: int, failures: int, timeout: int = 2) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http", "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
        "successThreshold": 1,
    }


def empty_dir(name: str, size: str) -> dict[str, Any]:
    return {"name": name, "emptyDir": {"sizeLimit": size}}


def env_from(*secrets: str) -> list[dict[str, Any]]:
    return [{"configMapRef": {"name": CONFIGMAP}}] + [{"secretRef": {"name": s}} for s in secrets]


def resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def pod_spec(
    name: str, container: dict[str, Any], volumes: list[dict[str, Any]], uid: int, pull_secret: bool = True
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        # Service links would inject REDIS_PORT=tcp://… and friends, which collide with app settings.
        "enableServiceLinks": False,
        "securityContext": pod_security_context(uid),
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": volumes,
    }
    if pull_secret:
        pod["imagePullSecrets"] = [{"name": REGISTRY_SECRET}]
    return pod


def spread(spec: AppsSpec, name: str) -> list[dict[str, Any]]:
    # DoNotSchedule: a node loss must never take out more than its share of replicas. It cannot
    # deadlock a drain or an outage because tainted (cordoned/NotReady) nodes are left out of the skew
    # (nodeTaintsPolicy Honor), and pod-template-hash keeps a rollout's old pods out of the count.
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": {"matchLabels": selector(name, spec.apps.namespace)},
            "matchLabelKeys": ["pod-template-hash"],
            "nodeAffinityPolicy": "Honor",
            "nodeTaintsPolicy": "Honor",
        }
    ]


def service_account(spec: AppsSpec, name: str) -> Manifest:
    """A ServiceAccount that mounts no API token: no workload talks to the Kubernetes API."""
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(name, spec.apps.namespace, app_labels(spec, name)),
        "automountServiceAccountToken": False,
    }


def service(spec: AppsSpec, name: str, port: int, target: str, headless: bool = False) -> Manifest:
    body: dict[str, Any] = {
        "type": "ClusterIP",
        "selector": selector(name, spec.apps.namespace),
        "ports": [{"name": target, "port": port, "targetPort": target, "protocol": "TCP"}],
    }
    if headless:
        body["clusterIP"] = "None"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, spec.apps.namespace, app_labels(spec, name)),
        "spec": body,
    }


def pdb(spec: AppsSpec, name: str, budget: dict[str, int]) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, spec.apps.namespace, app_labels(spec, name)),
        "spec": {
            **budget,
            "selector": {"matchLabels": selector(name, spec.apps.namespace)},
            # A crash-looping pod must not block a node drain.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def deployment(spec: AppsSpec, name: str, replicas: int, strategy: dict[str, Any], pod: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, spec.apps.namespace, app_labels(spec, name)),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(name, spec.apps.namespace)},
            "strategy": strategy,
            "template": {"metadata": {"labels": app_labels(spec, name)}, "spec": pod},
        },
    }
