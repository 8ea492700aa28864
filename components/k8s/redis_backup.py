"""Scheduled snapshots of Redis to the off-site bucket, and the scripts that restore one.

Pure: plain values in, manifests out. A CronJob runs `scripts/redis/dump.sh` (redis image: an RDB
snapshot over the replication protocol) and then `scripts/redis/upload.sh` (rclone image: to B2's S3
API). The same ConfigMap carries `fetch.sh` and `restore.sh` for the restore Job
(components/k8s/redis_restore.py), which tests/test_redis_backup.py runs against a real redis-server.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.config.model import StackConfig
from components.k8s.spec import (
    APP_UID,
    PART_OF,
    REDIS,
    REDIS_PORT,
    REDIS_SECRET,
    AppsSpec,
    Manifest,
    labels,
    metadata,
    selector,
)
from components.k8s.workload_parts import container_security_context

NAME = "redis-backup"
SCRIPTS = ("dump.sh", "upload.sh", "fetch.sh", "restore.sh")
SCRIPTS_DIR = Path(__file__).resolve().parents[2] / "scripts" / "redis"
SECRET = "redis-backup-offsite"
SECRET_KEYS = ("RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID", "RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY")
# rclone's images are tagged with the bare semver (build_publish_docker_image.yml, type=semver
# pattern={{version}}); v1.75.0 is the newest release.
RCLONE_IMAGE = "docker.io/rclone/rclone:1.75.0"
HTTPS_PORT = 443


@dataclass(frozen=True, kw_only=True)
class BackupSpec:
    """Where and when Redis snapshots go."""

    schedule: str
    """Cron schedule (UTC)."""
    bucket: str
    """Off-site bucket (the etcd snapshot bucket)."""
    folder: str
    """Folder in it."""
    endpoint: str
    """S3 endpoint host."""
    region: str
    """S3 region."""
    retention: str = "14d"
    """Snapshots older than this are deleted after each upload."""


def backup_spec(config: StackConfig) -> BackupSpec | None:
    """Redis snapshots go to the etcd snapshot bucket (the stack's off-site bucket), when it is set."""
    s3 = config.k3s.etcd_s3
    if s3 is None:
        return None
    m = config.maintenance
    return BackupSpec(
        schedule=m.redis_backup_schedule,
        bucket=s3.bucket,
        folder=m.redis_backup_folder,
        endpoint=s3.endpoint,
        region=s3.region,
    )


def script_text(name: str) -> str:
    """One of the scripts, as shipped in the ConfigMap."""
    return (SCRIPTS_DIR / name).read_text()


def backup_labels(spec: AppsSpec) -> dict[str, str]:
    return labels(NAME, "backup", spec.apps.namespace)


def offsite_env(backup: BackupSpec) -> list[dict[str, Any]]:
    """rclone's remote `offsite`, configured by environment alone (rclone docs: "Config file" →
    RCLONE_CONFIG_<REMOTE>_<OPTION>); B2 speaks S3 as provider Other."""
    plain = {
        "OFFSITE": f"offsite:{backup.bucket}/{backup.folder}",
        "RETENTION": backup.retention,
        "RCLONE_CONFIG_OFFSITE_TYPE": "s3",
        "RCLONE_CONFIG_OFFSITE_PROVIDER": "Other",
        "RCLONE_CONFIG_OFFSITE_ENDPOINT": f"https://{backup.endpoint}",
        "RCLONE_CONFIG_OFFSITE_REGION": backup.region,
        # The key may be limited to the bucket: never try to create it.
        "RCLONE_CONFIG_OFFSITE_NO_CHECK_BUCKET": "true",
        # Read-only root filesystem: config and cache under the writable /tmp.
        "RCLONE_CONFIG": "/tmp/rclone.conf",
        "RCLONE_CACHE_DIR": "/tmp/rclone-cache",
        "HOME": "/tmp",
    }
    env: list[dict[str, Any]] = [{"name": k, "value": v} for k, v in plain.items()]
    env += [{"name": k, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": k}}} for k in SECRET_KEYS]
    return env


def mounts() -> list[dict[str, Any]]:
    return [
        {"name": "scripts", "mountPath": "/scripts", "readOnly": True},
        {"name": "snapshot", "mountPath": "/snapshot"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]


def pod_security(uid: int) -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": uid,
        "fsGroup": uid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


# Backup steps stream a snapshot: a bounded CPU share keeps a slow upload from starving the node.
STEP_RESOURCES = {"requests": {"cpu": "10m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "512Mi"}}


def script_container(
    name: str,
    image: str,
    script: str,
    env: list[dict[str, Any]],
    mounts: list[Any],
    resources: dict[str, Any] = STEP_RESOURCES,
) -> Manifest:
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["sh", f"/scripts/{script}"],
        "env": env,
        "resources": resources,
        "securityContext": container_security_context(),
        "volumeMounts": mounts,
    }


def volumes() -> list[dict[str, Any]]:
    return [
        {"name": "scripts", "configMap": {"name": NAME, "defaultMode": 0o555}},
        {"name": "snapshot", "emptyDir": {"sizeLimit": "2Gi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]


def _cronjob(spec: AppsSpec, backup: BackupSpec) -> Manifest:
    redis_host = f"{REDIS}.{spec.apps.namespace}.svc.cluster.local"
    dump_env: list[dict[str, Any]] = [
        {"name": "REDIS_HOST", "value": redis_host},
        {"name": "REDIS_PORT", "value": str(REDIS_PORT)},
        {"name": "SNAPSHOT_DIR", "value": "/snapshot"},
        {"name": "REDISCLI_AUTH", "valueFrom": {"secretKeyRef": {"name": REDIS_SECRET, "key": "REDIS_PASSWORD"}}},
    ]
    dump = script_container("dump", spec.apps.redis_image, "dump.sh", dump_env, mounts())
    upload_env = [{"name": "SNAPSHOT_DIR", "value": "/snapshot"}, *offsite_env(backup)]
    upload = script_container("upload", RCLONE_IMAGE, "upload.sh", upload_env, mounts())
    pod = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": pod_security(APP_UID),
        # The snapshot is taken first (init container), so a failed dump never uploads anything.
        "initContainers": [dump],
        "containers": [upload],
        "volumes": volumes(),
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": metadata(NAME, spec.apps.namespace, backup_labels(spec)),
        "spec": {
            "schedule": backup.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 600,
            # No ttlSecondsAfterFinished on the Jobs: a failed run stays (with its pods' logs) until three
            # newer ones failed, so a failure on Friday night is still there to read on Monday; `make status`
            # reports it.
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": backup_labels(spec)},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": 1800,
                    "template": {"metadata": {"labels": backup_labels(spec)}, "spec": pod},
                },
            },
        },
    }


def _policies(spec: AppsSpec) -> list[Manifest]:
    """The namespace denies everything by default (components/k8s/policies.py): the backup pod may reach
    Redis and HTTPS outside the cluster (B2), and Redis admits it. NetworkPolicies add up, so the
    app's own redis-ingress stays as it is."""
    backup_pods = {"matchLabels": selector(NAME, spec.apps.namespace)}
    redis_pods = {"matchLabels": selector(REDIS, spec.apps.namespace)}
    redis_port = [{"protocol": "TCP", "port": REDIS_PORT}]
    internet = {"ipBlock": {"cidr": "0.0.0.0/0", "except": [spec.cluster_cidr, *spec.node_cidrs, "169.254.0.0/16"]}}
    meta_labels = labels(PART_OF, "network-policy", spec.apps.namespace)
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata(f"{NAME}-egress", spec.apps.namespace, meta_labels),
            "spec": {
                "podSelector": backup_pods,
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"podSelector": redis_pods}], "ports": redis_port},
                    {"to": [internet], "ports": [{"protocol": "TCP", "port": HTTPS_PORT}]},
                ],
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": metadata(f"{NAME}-to-redis", spec.apps.namespace, meta_labels),
            "spec": {
                "podSelector": redis_pods,
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": backup_pods}], "ports": redis_port}],
            },
        },
    ]


def secret_shell(spec: AppsSpec) -> Manifest:
    """The bucket key, filled by the component."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(SECRET, spec.apps.namespace, backup_labels(spec)),
        "type": "Opaque",
        "stringData": dict.fromkeys(SECRET_KEYS, ""),
    }


def backup_objects(spec: AppsSpec, backup: BackupSpec) -> list[Manifest]:
    """ServiceAccount, scripts ConfigMap, key Secret, NetworkPolicies, then the CronJob."""
    account = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(NAME, spec.apps.namespace, backup_labels(spec)),
        "automountServiceAccountToken": False,
    }
    scripts = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(NAME, spec.apps.namespace, backup_labels(spec)),
        "data": {name: script_text(name) for name in SCRIPTS},
    }
    return [account, scripts, secret_shell(spec), *_policies(spec), _cronjob(spec, backup)]
