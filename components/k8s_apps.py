"""The Honeydue workloads as plain Kubernetes manifests: api, admin, worker and redis.

Pure data, no Pulumi: every builder takes an `AppsSpec` and returns dicts with camelCase keys exactly as
`kubectl apply` takes them. `components.k8s_manifests` is the public entry point and re-exports these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

Manifest = dict[str, Any]

PART_OF = "honeydue"
API, ADMIN, WORKER, REDIS = "api", "admin", "worker", "redis"
CONFIGMAP = "honeydue-config"
APP_SECRET = "honeydue-app"
REDIS_SECRET = "honeydue-redis"
REGISTRY_SECRET = "honeydue-registry"

API_PORT = 8080
ADMIN_PORT = 3000
REDIS_PORT = 6379
# The api, admin and worker images are expected to run as any non-root uid (distroless `nonroot` is
# 65532). A numeric uid is required: with runAsNonRoot the kubelet refuses a non-numeric image USER
# such as Next.js's `nextjs`, since it cannot prove it is not root.
APP_UID = 65532
# The official redis image's `redis` user; as non-root its entrypoint skips the chown/gosu dance.
REDIS_UID = 999
# Spread over the startup probe's period: failureThreshold × 5 s is the startup budget
# (api: 48 × 5 s = 240 s, the advisory-lock migration; admin: 24 × 5 s = 120 s).
STARTUP_PERIOD_SECONDS = 5


@dataclass(frozen=True, kw_only=True)
class AppsSpec:
    """Plain values the Kubernetes layer is built from (the component maps stack config onto it)."""

    namespace: str
    """Namespace of every workload (honeydue)."""
    domain: str
    """Apex domain; the apex and www serve the api's landing page."""
    api_hostname: str
    """Hostname of the api."""
    admin_hostname: str
    """Hostname of the admin app."""
    api_image: str
    """Image of the api (Go, port 8080)."""
    admin_image: str
    """Image of the admin app (Next.js, port 3000)."""
    worker_image: str
    """Image of the worker (Asynq; always exactly one replica)."""
    redis_image: str
    """Image of redis (official image)."""
    api_replicas: int
    """Replicas of the api."""
    admin_replicas: int
    """Replicas of the admin app."""
    api_startup_failure_threshold: int
    """startupProbe failureThreshold of the api (× 5 s)."""
    admin_startup_failure_threshold: int
    """startupProbe failureThreshold of the admin app (× 5 s)."""
    redis_storage_size: str
    """Size of redis's PersistentVolumeClaim."""
    cluster_cidr: str
    """Pod network; hostNetwork Traefik reaches remote pods from its node's flannel address in it."""
    node_cidrs: tuple[str, ...]
    """Nodes' private network(s): hostNetwork Traefik traffic may arrive from these addresses."""
    tls_secret_name: str | None
    """None in flexible SSL mode; in full/strict the kubernetes.io/tls Secret with the Origin CA cert."""
    smtp_host: str
    """SMTP host (STARTTLS)."""
    smtp_port: int
    """SMTP port (587)."""
    b2_bucket: str
    """Uploads bucket."""
    b2_endpoint: str
    """B2 S3 endpoint host."""
    b2_region: str
    """B2 region."""


def labels(name: str, component: str, instance: str) -> dict[str, str]:
    """The recommended app.kubernetes.io labels."""
    return {
        "app.kubernetes.io/name": name,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(name: str, instance: str) -> dict[str, str]:
    """The immutable subset of `labels` that selects a workload's pods."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/instance": instance}


def metadata(name: str, namespace: str | None, object_labels: dict[str, str]) -> dict[str, Any]:
    """Object metadata: the name, the namespace where namespaced, the labels."""
    meta: dict[str, Any] = {"name": name}
    if namespace is not None:
        meta["namespace"] = namespace
    meta["labels"] = dict(object_labels)
    return meta


COMPONENTS = {API: "server", ADMIN: "frontend", WORKER: "worker", REDIS: "cache"}


def _labels(spec: AppsSpec, name: str) -> dict[str, str]:
    return labels(name, COMPONENTS[name], spec.namespace)


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
            "labelSelector": {"matchLabels": selector(name, spec.namespace)},
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
        "metadata": metadata(name, spec.namespace, _labels(spec, name)),
        "automountServiceAccountToken": False,
    }


def _service(spec: AppsSpec, name: str, port: int, target: str, headless: bool = False) -> Manifest:
    body: dict[str, Any] = {
        "type": "ClusterIP",
        "selector": selector(name, spec.namespace),
        "ports": [{"name": target, "port": port, "targetPort": target, "protocol": "TCP"}],
    }
    if headless:
        body["clusterIP"] = "None"
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(name, spec.namespace, _labels(spec, name)),
        "spec": body,
    }


def _pdb(spec: AppsSpec, name: str, budget: dict[str, int]) -> Manifest:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(name, spec.namespace, _labels(spec, name)),
        "spec": {
            **budget,
            "selector": {"matchLabels": selector(name, spec.namespace)},
            # A crash-looping pod must not block a node drain.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def _deployment(spec: AppsSpec, name: str, replicas: int, strategy: dict[str, Any], pod: dict[str, Any]) -> Manifest:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(name, spec.namespace, _labels(spec, name)),
        "spec": {
            "replicas": replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": selector(name, spec.namespace)},
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
        "image": spec.api_image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}],
        "envFrom": _env_from(APP_SECRET, REDIS_SECRET),
        "startupProbe": _http_probe("/healthz", STARTUP_PERIOD_SECONDS, spec.api_startup_failure_threshold),
        "readinessProbe": _http_probe("/readyz", 5, 3),
        "livenessProbe": _http_probe("/healthz", 10, 3),
        "lifecycle": _pre_stop(),
        "resources": _resources("100m", "128Mi", "1", "512Mi"),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        # Go spills large multipart bodies to os.TempDir().
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return _served_app(spec, API, spec.api_replicas, container, [_empty_dir("tmp", "512Mi")])


def admin_objects(spec: AppsSpec) -> list[Manifest]:
    """ServiceAccount, Deployment, Service and PodDisruptionBudget of the admin app."""
    container = {
        "name": ADMIN,
        "image": spec.admin_image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": ADMIN_PORT, "protocol": "TCP"}],
        # Next.js standalone binds to $HOSTNAME, which the runtime sets to the pod name.
        "env": [{"name": "HOSTNAME", "value": "0.0.0.0"}, {"name": "PORT", "value": str(ADMIN_PORT)}],
        "envFrom": _env_from(APP_SECRET),
        # Next.js serves the app at `/`; `/admin/` is a 404 and once killed every pod.
        "startupProbe": _http_probe("/", STARTUP_PERIOD_SECONDS, spec.admin_startup_failure_threshold, timeout=5),
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
    return _served_app(spec, ADMIN, spec.admin_replicas, container, volumes)


def worker_objects(spec: AppsSpec) -> list[Manifest]:
    """ServiceAccount, Deployment (one replica, Recreate) and PodDisruptionBudget of the worker.

    The Asynq scheduler is a singleton: one replica, and Recreate so a rollout stops the old pod before
    the new one starts. minAvailable 0 lets a drain evict it. No probes: Asynq exposes no endpoint and
    the image has no shell, so nothing could observe its health; no Service routes to it, so readiness
    gates nothing, and a liveness probe blind to real health would only add restarts.
    """
    container = {
        "name": WORKER,
        "image": spec.worker_image,
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
    """ServiceAccount, headless Service and StatefulSet of redis (AOF on a local-path volume).

    The Service is headless: one replica needs no virtual IP, a StatefulSet needs a governing headless
    Service anyway, and clients resolve `redis` straight to the pod. No PodDisruptionBudget: a budget on
    a single replica could only block drains.
    """
    container = {
        "name": REDIS,
        "image": spec.redis_image,
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
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    # A public image: no pull secret.
    pod = _pod_spec(REDIS, container, [_empty_dir("tmp", "64Mi")], REDIS_UID, pull_secret=False)
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(REDIS, spec.namespace, _labels(spec, REDIS)),
        "spec": {
            "replicas": 1,
            "serviceName": REDIS,
            "selector": {"matchLabels": selector(REDIS, spec.namespace)},
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {"metadata": {"labels": _labels(spec, REDIS)}, "spec": pod},
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": "data", "labels": _labels(spec, REDIS)},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        # K3s's local-path provisioner: the volume, and so redis, stays on its node.
                        "storageClassName": "local-path",
                        "resources": {"requests": {"storage": spec.redis_storage_size}},
                    },
                }
            ],
        },
    }
    return [service_account(spec, REDIS), _service(spec, REDIS, REDIS_PORT, "redis", headless=True), statefulset]
