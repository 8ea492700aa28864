"""The Honeydue workloads as plain Kubernetes manifests: api, admin and worker (redis: `redis.py`).

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
    REDIS_SECRET,
    STARTUP_PERIOD_SECONDS,
    WORKER,
    AppsSpec,
    Manifest,
)
from components.k8s.workload_parts import (
    container_security_context,
    deployment,
    empty_dir,
    env_from,
    http_probe,
    pdb,
    pod_spec,
    resources,
    service,
    service_account,
    spread,
)


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
    pod = pod_spec(name, container, volumes, APP_UID)
    pod["topologySpreadConstraints"] = spread(spec, name)
    return [
        service_account(spec, name),
        deployment(spec, name, replicas, _surge_one(), pod),
        service(spec, name, 80, "http"),
        # maxUnavailable 1 rather than minAvailable replicas-1: the same budget at 3 replicas, and it
        # follows any replica count without a second number to keep in step.
        pdb(spec, name, {"maxUnavailable": 1}),
    ]


def api_objects(spec: AppsSpec) -> list[Manifest]:
    """ServiceAccount, Deployment, Service and PodDisruptionBudget of the api."""
    container = {
        "name": API,
        "image": spec.apps.api_image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": API_PORT, "protocol": "TCP"}],
        "envFrom": env_from(APP_SECRET, REDIS_SECRET),
        "startupProbe": http_probe("/healthz", STARTUP_PERIOD_SECONDS, spec.apps.api_startup_failure_threshold),
        "readinessProbe": http_probe("/readyz", 5, 3),
        "livenessProbe": http_probe("/healthz", 10, 3),
        "lifecycle": _pre_stop(),
        "resources": resources("100m", "128Mi", "1", "512Mi"),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        # Go spills large multipart bodies to os.TempDir().
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return _served_app(spec, API, spec.apps.api_replicas, container, [empty_dir("tmp", "512Mi")])


def admin_objects(spec: AppsSpec) -> list[Manifest]:
    """ServiceAccount, Deployment, Service and PodDisruptionBudget of the admin app."""
    container = {
        "name": ADMIN,
        "image": spec.apps.admin_image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": ADMIN_PORT, "protocol": "TCP"}],
        # Next.js standalone binds to $HOSTNAME, which the runtime sets to the pod name.
        "env": [{"name": "HOSTNAME", "value": "0.0.0.0"}, {"name": "PORT", "value": str(ADMIN_PORT)}],
        "envFrom": env_from(APP_SECRET),
        # Next.js serves the app at `/`; `/admin/` is a 404 and once killed every pod.
        "startupProbe": http_probe("/", STARTUP_PERIOD_SECONDS, spec.apps.admin_startup_failure_threshold, timeout=5),
        "readinessProbe": http_probe("/", 10, 3, timeout=5),
        "livenessProbe": http_probe("/", 10, 3, timeout=5),
        "lifecycle": _pre_stop(),
        "resources": resources("50m", "128Mi", "500m", "512Mi"),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        # Next.js writes its image/ISR cache under .next/cache (WORKDIR /app in the standalone image).
        "volumeMounts": [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "next-cache", "mountPath": "/app/.next/cache"},
        ],
    }
    volumes = [empty_dir("tmp", "128Mi"), empty_dir("next-cache", "512Mi")]
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
        "envFrom": env_from(APP_SECRET, REDIS_SECRET),
        "resources": resources("50m", "128Mi", "500m", "512Mi"),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    pod = pod_spec(WORKER, container, [empty_dir("tmp", "256Mi")], APP_UID)
    # Asynq's graceful shutdown waits for in-flight tasks (its default ShutdownTimeout is 8 s).
    pod["terminationGracePeriodSeconds"] = 60
    return [
        service_account(spec, WORKER),
        deployment(spec, WORKER, 1, {"type": "Recreate"}, pod),
        pdb(spec, WORKER, {"minAvailable": 0}),
    ]
