"""The Honeydue workloads as plain Kubernetes manifests: api, admin, worker and redis.

Pure data, no Pulumi: every builder takes an `AppsSpec` and returns dicts with camelCase keys exactly as
`kubectl apply` takes them. `components.k8s.manifests` is the public entry point.
"""

from __future__ import annotations

from typing import Any

from components.k8s.spec import (
    ADMIN,
    ADMIN_PORT,
    API,
    API_PORT,
    APP_SECRET,
    APP_UID,
    CONFIGMAP,
    REDIS,
    REDIS_PORT,
    REDIS_SECRET,
    REDIS_UID,
    REGISTRY_SECRET,
    STARTUP_PERIOD_SECONDS,
    WORKER,
    AppsSpec,
    Manifest,
    labels,
    metadata,
    selector,
)
from components.k8s.storage import STORAGE_CLASS

# Not "data", the claim of the local-path era: its PVC data-redis-0 still exists (Retain), and a
# StatefulSet adopts an existing PVC by name, so the old name would silently keep redis on local-path.
# A changed claim template replaces the StatefulSet (pulumi-kubernetes provider/pkg/provider/diff.go
# lists .spec.volumeClaimTemplates as force-new); docs/runbook.md has the data migration.
REDIS_CLAIM = "hcloud-data"

COMPONENTS = {API: "server", ADMIN: "frontend", WORKER: "worker", REDIS: "cache"}


def _labels(spec: AppsSpec, name: str) -> dict[str, str]:
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


def _pod_security_context(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def _http_probe(path: str, period: int, failures: int, timeout: int = 2) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "http", "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
        "successThreshold": 1,
    }


def _empty_dir(name: str, size: str) -> dict[str, Any]:
    return {"name": name, "emptyDir": {"sizeLimit": size}}


def _env_from(*secrets: str) -> list[dict[str, Any]]:
    return [{"configMapRef": {"name": CONFIGMAP}}] + [{"secretRef": {"name": s}} for s in secrets]


def _resources(cpu: str, memory: str, cpu_limit: str, memory_limit: str) -> dict[str, Any]:
    return {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu_limit, "memory": memory_limit}}


def _pod_spec(
    name: str, container: dict[str, Any], volumes: list[dict[str, Any]], uid: int, pull_secret: bool = True
) -> dict[str, Any]:
    pod: dict[str, Any] = {
        "serviceAccountName": name,
        "automountServiceAccountToken": False,
        # Service links would inject REDIS_PORT=tcp://… and friends, which collide with app settings.
        "enableServiceLinks": False,
        "securityContext": _pod_security_context(uid),
        "terminationGracePeriodSeconds": 30,
        "containers": [container],
        "volumes": volumes,
    }
    if pull_secret:
        pod["imagePullSecrets"] = [{"name": REGISTRY_SECRET}]
    return pod


def _spread(spec: AppsSpec, name: str) -> list[dict[str, Any]]:
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
        "metadata": metadata(name, spec.apps.namespace, _labels(spec, name)),
        "automountServiceAccountToken": False,
    }


def _service(spec: AppsSpec, name: str, port: int, target: str, headless: bool = False) -> Manifest:
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
        "metadata": metadata(name, spec.apps.namespace, _labels(spec, name)),
        "spec": body,
    }


def _pdb(spec: AppsSpec, name: str, budget: dict[str, int]) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, spec.apps.namespace, _labels(spec, name)),
        "spec": {
            **budget,
            "selector": {"matchLabels": selector(name, spec.apps.namespace)},
            # A crash-looping pod must not block a node drain.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def _deployment(spec: AppsSpec, name: str, replicas: int, strategy: dict[str, Any], pod: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, spec.apps.namespace, _labels(spec, name)),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(name, spec.apps.namespace)},
            "strategy": strategy,
            "template": {"metadata": {"labels": _labels(spec, name)}, "spec": pod},
        },
    }


def _surge_one() -> dict[str, Any]:
    # Never below capacity: a new pod must be Ready before an old one goes.
    return {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}


def _pre_stop() -> dict[str, Any]:
    # Endpoints and Traefik need a moment to drop a terminating pod before it stops taking connections.
    return {"preStop": {"sleep": {"seconds": 5}}}


def _served_app(
    spec: AppsSpec, name: str, replicas: int, container: Manifest, volumes: list[Manifest]
) -> list[Manifest]:
    """What api and admin share around their container: ServiceAccount, a Deployment spread across nodes
    that rolls without dropping capacity, a Service on port 80, and a budget that keeps serving through
    a drain."""
    pod = _pod_spec(name, container, volumes, APP_UID)
    pod["topologySpreadConstraints"] = _spread(spec, name)
    return [
        service_account(spec, name),
        _deployment(spec, name, replicas, _surge_one(), pod),
        _service(spec, name, 80, "http"),
        # maxUnavailable 1 rather than minAvailable replicas-1: the same budget at 3 replicas, and it
        # follows any replica count without a second number to keep in step.
        _pdb(spec, name, {"maxUnavailable": 1}),
    ]


def api_objects(spec: AppsSpec) -> list[Manifest]:
    """ServiceAccount, Deployment, Service and PodDisruptionBudget of the api."""
    container = {
        "name": API,
        "image": spec.apps.api_image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}],
        "envFrom": _env_from(APP_SECRET, REDIS_SECRET),
        "startupProbe": _http_probe("/healthz", STARTUP_PERIOD_SECONDS, spec.apps.api_startup_failure_threshold),
        "readinessProbe": _http_probe("/readyz", 5, 3),
        "livenessProbe": _http_probe("/healthz", 10, 3),
        "lifecycle": _pre_stop(),
        "resources": _resources("100m", "128Mi", "1", "512Mi"),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        # Go spills large multipart bodies to os.TempDir().
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return _served_app(spec, API, spec.apps.api_replicas, container, [_empty_dir("tmp", "512Mi")])


def admin_objects(spec: AppsSpec) -> list[Manifest]:
    """ServiceAccount, Deployment, Service and PodDisruptionBudget of the admin app."""
    container = {
        "name": ADMIN,
        "image": spec.apps.admin_image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": ADMIN_PORT, "protocol": "TCP"}],
        # Next.js standalone binds to $HOSTNAME, which the runtime sets to the pod name.
        "env": [{"name": "HOSTNAME", "value": "0.0.0.0"}, {"name": "PORT", "value": str(ADMIN_PORT)}],
        "envFrom": _env_from(APP_SECRET),
        # Next.js serves the app at `/`; `/admin/` is a 404 and once killed every pod.
        "startupProbe": _http_probe("/", STARTUP_PERIOD_SECONDS, spec.apps.admin_startup_failure_threshold, timeout=5),
        "readinessProbe": _http_probe("/", 10, 3, timeout=5),
        "livenessProbe": _http_probe("/", 10, 3, timeout=5),
        "lifecycle": _pre_stop(),
        "resources": _resources("50m", "128Mi", "500m", "512Mi"),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        # Next.js writes its image/ISR cache under .next/cache (WORKDIR /app in the standalone image).
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "next-cache", "mountPath": "/app/.next/cache"},
        ],
    }
    volumes = [_empty_dir("tmp", "128Mi"), _empty_dir("next-cache", "512Mi")]
    return _served_app(spec, ADMIN, spec.apps.admin_replicas, container, volumes)


def worker_objects(spec: AppsSpec) -> list[Manifest]:
    """ServiceAccount, Deployment (one replica, Recreate) and PodDisruptionBudget of the worker.

    The Asynq scheduler is a singleton: one replica, and Recreate so a rollout stops the old pod before
    the new one starts. minAvailable 0 lets a drain evict it. No probes: Asynq exposes no endpoint and
    the image has no shell, so nothing could observe its health; no Service routes to it, so readiness
    gates nothing, and a liveness probe blind to real health would only add restarts.
    """
    container = {
        "name": WORKER,
        "image": spec.apps.worker_image,
        "imagePullPolicy": "IfNotPresent",
        "envFrom": _env_from(APP_SECRET, REDIS_SECRET),
        "resources": _resources("50m", "128Mi", "500m", "512Mi"),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod = _pod_spec(WORKER, container, [_empty_dir("tmp", "256Mi")], APP_UID)
    # Asynq's graceful shutdown waits for in-flight tasks (its default ShutdownTimeout is 8 s).
    pod["terminationGracePeriodSeconds"] = 60
    return [
        service_account(spec, WORKER),
        _deployment(spec, WORKER, 1, {"type": "Recreate"}, pod),
        _pdb(spec, WORKER, {"minAvailable": 0}),
    ]


# The password reaches redis-server on stdin (`-` reads config from stdin, then the `--` options
# apply): never on a command line that `ps` or the runtime's container config would show. An unset
# or empty password fails the start instead of running redis open.
REDIS_START = f"""set -eu
if [ -z "${{REDIS_PASSWORD:-}}" ]; then echo 'REDIS_PASSWORD is empty' >&2; exit 1; fi
umask 0077
exec redis-server - --port {REDIS_PORT} --dir /data --appendonly yes --appendfsync everysec \\
  --maxmemory 512mb --maxmemory-policy noeviction <<EOF
requirepass ${{REDIS_PASSWORD}}
EOF
"""


def _redis_ping(period: int, failures: int) -> dict[str, Any]:
    # redis-cli reads the password from REDISCLI_AUTH, so the probe's command line holds none either.
    command = ["sh", "-c", f"redis-cli -h 127.0.0.1 -p {REDIS_PORT} ping | grep -qx PONG"]
    return {"exec": {"command": command}, "periodSeconds": period, "timeoutSeconds": 5, "failureThreshold": failures}


def _redis_password_env(name: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": REDIS_SECRET, "key": "REDIS_PASSWORD"}}}


def redis_objects(spec: AppsSpec) -> list[Manifest]:
    """ServiceAccount, headless Service and StatefulSet of redis (AOF on a Hetzner Cloud Volume).

    The Service is headless: one replica needs no virtual IP, a StatefulSet needs a governing headless
    Service anyway, and clients resolve `redis` straight to the pod. No PodDisruptionBudget: a budget on
    a single replica could only block drains.
    """
    container = {
        "name": REDIS,
        "image": spec.apps.redis_image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", "-c"],
        "args": [REDIS_START],
        "env": [_redis_password_env("REDIS_PASSWORD"), _redis_password_env("REDISCLI_AUTH")],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        # Loading a large AOF answers LOADING to PING: give it up to 5 minutes before liveness applies.
        "startupProbe": _redis_ping(5, 60),
        "readinessProbe": _redis_ping(10, 3),
        # Liveness only asks whether redis listens: restarting it for being slow (an AOF rewrite, a
        # big command) would cost more than waiting.
        "livenessProbe": {
            "tcpSocket": {"port": "redis"},
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 6,
        },
        "resources": _resources("100m", "256Mi", "1", "1Gi"),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": REDIS_CLAIM, "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    # A public image: no pull secret.
    pod = _pod_spec(REDIS, container, [_empty_dir("tmp", "64Mi")], REDIS_UID, pull_secret=False)
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(REDIS, spec.apps.namespace, _labels(spec, REDIS)),
        "spec": {
            "replicas": 1,
            "serviceName": REDIS,
            "selector": {"matchLabels": selector(REDIS, spec.apps.namespace)},
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {"metadata": {"labels": _labels(spec, REDIS)}, "spec": pod},
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": REDIS_CLAIM, "labels": _labels(spec, REDIS)},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        # A Hetzner Cloud Volume (hcloud CSI): a drained or lost node's volume is
                        # attached wherever redis is scheduled next, with its data.
                        "storageClassName": STORAGE_CLASS,
                        "resources": {"requests": {"storage": spec.apps.redis_storage_size}},
                    },
                }
            ],
        },
    }
    return [service_account(spec, REDIS), _service(spec, REDIS, REDIS_PORT, "redis", headless=True), statefulset]
