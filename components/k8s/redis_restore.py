"""The one-off Job that restores Redis from a named off-site snapshot (`make redis-restore`,
tools/redis_restore.py; docs/runbook.md has the procedure around it).

Pure: plain values in, a manifest out. It runs the backup ConfigMap's `fetch.sh` (rclone image) then
`restore.sh` (redis image) against Redis's own claim, with the backup pods' labels, account and bucket key.
"""

from __future__ import annotations

import re
from typing import Any

from components.k8s.redis import REDIS_CLAIM, REDIS_MAXMEMORY_MB
from components.k8s.redis_backup import (
    NAME,
    RCLONE_IMAGE,
    BackupSpec,
    backup_labels,
    mounts,
    offsite_env,
    pod_security,
    script_container,
    volumes,
)
from components.k8s.spec import REDIS, REDIS_PORT, REDIS_UID, AppsSpec, Manifest, metadata, selector

# What `rclone lsf` shows and upload.sh writes: redis-<UTC %Y%m%dT%H%M%SZ>.rdb.
SNAPSHOT_NAME = re.compile(r"redis-\d{8}T\d{6}Z\.rdb", re.ASCII)
# The Job restore.sh runs in; `make redis-restore` (tools/redis_restore.py) applies and watches it.
RESTORE_JOB = "redis-restore"


def restore_memory_mb(maxmemory_mb: int = REDIS_MAXMEMORY_MB) -> int:
    """The restore container's memory: twice Redis's maxmemory.

    restore.sh's temporary redis-server holds the whole dataset (up to maxmemory, plus allocator
    overhead), then forks to rewrite it as AOF (copy-on-write: nothing writes meanwhile, so the child
    shares the pages) while the RDB it read and the AOF it writes pass through the page cache, which the
    container's cgroup is charged for. Measured with redis 7.0 on a dataset of 60 MB under a 64 MB
    maxmemory (tests/test_redis_backup.py): killed at 1x, restored at 1.5x; 2x leaves room for
    fragmentation.
    """
    return 2 * maxmemory_mb


def _restore_affinity(spec: AppsSpec) -> dict[str, Any]:
    """Never on a node that runs a Redis pod: ReadWriteOnce is per node, not per pod, so there the restore
    could mount the volume under a running Redis. The scheduler applies a required anti-affinity both ways:
    a Redis pod is not placed on the restore's node either."""
    redis_pods = {"matchLabels": selector(REDIS, spec.apps.namespace)}
    term = {"labelSelector": redis_pods, "topologyKey": "kubernetes.io/hostname"}
    return {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [term]}}


def restore_job(
    spec: AppsSpec, backup: BackupSpec, *, snapshot: str, force: bool = False, maxmemory_mb: int = REDIS_MAXMEMORY_MB
) -> Manifest:
    """A one-off Job (docs/runbook.md, `make redis-restore`): fetch.sh downloads the named snapshot,
    restore.sh writes it as AOF into Redis's volume, refusing while Redis answers (scale it to 0 first).
    Carries the backup pods' labels, so the same NetworkPolicies let it reach B2 and ask Redis."""
    if not SNAPSHOT_NAME.fullmatch(snapshot):
        raise ValueError(f"{snapshot!r} is not a snapshot name (redis-<UTC time>.rdb, as `rclone lsf` shows)")
    claim = f"{REDIS_CLAIM}-{REDIS}-0"
    fetch = script_container(
        "fetch", RCLONE_IMAGE, "fetch.sh", [{"name": "SNAPSHOT_DIR", "value": "/snapshot"}, *offsite_env(backup),
                                            {"name": "SNAPSHOT", "value": snapshot}], mounts())  # fmt: skip
    restore_env = [
        {"name": "SNAPSHOT_DIR", "value": "/snapshot"},
        {"name": "DATA_DIR", "value": "/data"},
        {"name": "FORCE", "value": "yes" if force else "no"},
        {"name": "REDIS_HOST", "value": f"{REDIS}.{spec.apps.namespace}.svc.cluster.local"},
        {"name": "REDIS_PORT", "value": str(REDIS_PORT)},
    ]
    memory = f"{restore_memory_mb(maxmemory_mb)}Mi"
    restore = script_container(
        "restore",
        spec.apps.redis_image,
        "restore.sh",
        restore_env,
        [*mounts(), {"name": "data", "mountPath": "/data"}],
        # Requested in full: a restore that the node cannot hold should not be scheduled there.
        {"requests": {"cpu": "100m", "memory": memory}, "limits": {"cpu": "1", "memory": memory}},
    )
    pod = {
        "serviceAccountName": NAME,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        # Redis's own uid, so the files it finds on the volume are its own.
        "securityContext": pod_security(REDIS_UID),
        "affinity": _restore_affinity(spec),
        "initContainers": [fetch],
        "containers": [restore],
        "volumes": [*volumes(), {"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata(RESTORE_JOB, spec.apps.namespace, backup_labels(spec)),
        "spec": {
            "backoffLimit": 0,
            "activeDeadlineSeconds": 3600,
            "ttlSecondsAfterFinished": 86400,
            "template": {"metadata": {"labels": backup_labels(spec)}, "spec": pod},
        },
    }
