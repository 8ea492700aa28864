"""Redis as plain Kubernetes manifests: a one-replica StatefulSet with AOF on a Hetzner Cloud Volume."""

from __future__ import annotations

from typing import Any

from components.k8s.spec import (
    REDIS,
    REDIS_PORT,
    REDIS_SECRET,
    REDIS_UID,
    AppsSpec,
    Manifest,
    metadata,
    selector,
)
from components.k8s.storage import STORAGE_CLASS
from components.k8s.workload_parts import (
    app_labels,
    container_security_context,
    empty_dir,
    pod_spec,
    resources,
    service,
    service_account,
)

# Not "data", the claim of the local-path era: its PVC data-redis-0 still exists (Retain), and a
# StatefulSet adopts an existing PVC by name, so the old name would silently keep redis on local-path.
# A changed claim template replaces the StatefulSet (pulumi-kubernetes provider/pkg/provider/diff.go
# lists .spec.volumeClaimTemplates as force-new); docs/runbook.md has the data migration.
REDIS_CLAIM = "hcloud-data"


# Redis's dataset limit (noeviction: writes fail above it rather than lose queued jobs). The restore Job
# is sized from it (components/k8s/redis_backup.py restore_memory_mb).
REDIS_MAXMEMORY_MB = 512

# The password reaches redis-server on stdin (`-` reads config from stdin, then the `--` options
# apply): never on a command line that `ps` or the runtime's container config would show. An unset
# or empty password fails the start instead of running redis open.
REDIS_START = f"""set -eu
if [ -z "${{REDIS_PASSWORD:-}}" ]; then echo 'REDIS_PASSWORD is empty' >&2; exit 1; fi
umask 0077
exec redis-server - --port {REDIS_PORT} --dir /data --appendonly yes --appendfsync everysec \\
  --maxmemory {REDIS_MAXMEMORY_MB}mb --maxmemory-policy noeviction <<EOF
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
        "resources": resources("100m", "256Mi", "1", "1Gi"),
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": REDIS_CLAIM, "mountPath": "/data"}, {"name": "tmp", "mountPath": "/tmp"}],
    }
    # A public image: no pull secret.
    pod = pod_spec(REDIS, container, [empty_dir("tmp", "64Mi")], REDIS_UID, pull_secret=False)
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(REDIS, spec.apps.namespace, app_labels(spec, REDIS)),
        "spec": {
            "replicas": 1,
            "serviceName": REDIS,
            "selector": {"matchLabels": selector(REDIS, spec.apps.namespace)},
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"},
            "template": {"metadata": {"labels": app_labels(spec, REDIS)}, "spec": pod},
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {"name": REDIS_CLAIM, "labels": app_labels(spec, REDIS)},
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
    return [service_account(spec, REDIS), service(spec, REDIS, REDIS_PORT, "redis", headless=True), statefulset]
