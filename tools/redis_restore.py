"""`make redis-restore SNAPSHOT=redis-<UTC time>.rdb [FORCE=1]`: restores Redis from a named off-site snapshot.

    venv/bin/python -m tools.redis_restore --snapshot redis-<time>.rdb [--force] [--stack prod]
        [--kubeconfig FILE] [--print]

The whole procedure, in an order that cannot lose data (docs/runbook.md, "Redis: restore from a B2 snapshot"):
1. the backup CronJob is suspended, and a backup that is running is waited for: from here until Redis
   serves the restored data, a backup would upload an empty or half-written Redis as the newest snapshot;
2. Redis is scaled to 0 and its pod waited for until it is gone;
3. the restore Job (components/k8s/redis_restore.py) runs: fetch.sh downloads the snapshot, restore.sh
   refuses while Redis answers, then writes the AOF Redis loads;
4. on success Redis is scaled back to 1 and waited for, then backups are resumed. On failure nothing is
   resumed: Redis stays at 0 and backups stay suspended, and the tool says what to read and what to run.
`--print` prints the Job instead and changes nothing. The snapshot name is required: after Redis restarted
empty, the newest snapshot is an empty one (`rclone lsf`, docs/runbook.md, lists them).

The values come from Pulumi.<stack>.yaml (none is secret; the Job reads the bucket key from the backup's Secret).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from components.config.load import load_stack_config
from components.config.reader import NAMESPACE, ConfigError
from components.k8s.apps import apps_spec
from components.k8s.redis_backup import NAME as BACKUP
from components.k8s.redis_backup import backup_spec
from components.k8s.redis_restore import RESTORE_JOB, restore_job
from components.k8s.spec import REDIS
from components.yaml_text import dump_quoted
from offline.stack_config import provider_environment, stack_config
from tools.ops import Kubectl, OpsError

POLL_SECONDS = 5.0
# A running backup Job ends within its activeDeadlineSeconds (components/k8s/redis_backup.py); the restore
# Job within its own, plus time to be scheduled and pull its images.
BACKUP_WAIT_SECONDS = 1800 + 60
RESTORE_WAIT_SECONDS = 3600 + 600


class Cluster(Protocol):
    """What the procedure asks of kubectl (tools.ops.Kubectl; a recording fake in the tests)."""

    def text(self, args: Sequence[str]) -> str: ...

    def json(self, args: Sequence[str]) -> Any: ...


class RestoreError(Exception):
    """The procedure stopped; the message says where and what was left as it is."""


def _suspend(cluster: Cluster, namespace: str, suspend: bool) -> None:
    patch = json.dumps({"spec": {"suspend": suspend}})
    cluster.text(["-n", namespace, "patch", "cronjob", BACKUP, "--type=merge", "-p", patch])


def _wait(what: str, done: Callable[[], bool], seconds: float, sleep: Callable[[float], None]) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() >= deadline:
            raise RestoreError(f"{what} after {seconds:.0f} s")
        sleep(POLL_SECONDS)


def _finished(job: dict[str, Any]) -> str:
    """Complete, Failed or '' (not finished: running, between retries, or created without a pod yet)."""
    for condition in job.get("status", {}).get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in ("Complete", "Failed"):
            return str(condition["type"])
    return ""


def _unfinished(cluster: Cluster, namespace: str) -> list[str]:
    """The backup's and restore's Jobs (they share labels) that have not finished."""
    jobs = cluster.json(["-n", namespace, "get", "jobs", "-l", f"app.kubernetes.io/name={BACKUP}"])["items"]
    return [j["metadata"]["name"] for j in jobs if not _finished(j)]


def _job_state(cluster: Cluster, namespace: str) -> str:
    return _finished(cluster.json(["-n", namespace, "get", "job", RESTORE_JOB]))


def _stop_redis(cluster: Cluster, namespace: str, sleep: Callable[[float], None]) -> None:
    """Backups suspended, none running, Redis at 0 and its pod gone. Should any of it fail, backups are
    resumed (Redis still serves, so a stopped backup would only leave it unprotected) and the error says so."""
    if RESTORE_JOB in _unfinished(cluster, namespace):
        # Two restores would write one volume; delete it (--cascade=foreground waits for its pods) or let it end.
        raise RestoreError(f"Job {RESTORE_JOB} has not finished: another restore runs; nothing changed")
    _suspend(cluster, namespace, True)
    print(f"redis-restore: CronJob {BACKUP} suspended")
    try:
        _wait("a backup Job has not finished", lambda: not _unfinished(cluster, namespace), BACKUP_WAIT_SECONDS, sleep)
        cluster.text(["-n", namespace, "scale", "statefulset", REDIS, "--replicas=0"])
        cluster.text(["-n", namespace, "wait", "--for=delete", f"pod/{REDIS}-0", "--timeout=300s"])
    except (RestoreError, OpsError, KeyboardInterrupt) as error:
        _suspend(cluster, namespace, False)
        raise RestoreError(
            f"{error}; CronJob {BACKUP} resumed. If {REDIS} was scaled to 0, scale it back: kubectl -n {namespace}"
            f" scale statefulset {REDIS} --replicas=1"
        ) from error
    print(f"redis-restore: {REDIS} scaled to 0 and its pod gone")


def run(cluster: Cluster, job: dict[str, Any], sleep: Callable[[float], None] = time.sleep) -> None:
    """The procedure of the module docstring; prints each step."""
    namespace = job["metadata"]["namespace"]
    _stop_redis(cluster, namespace, sleep)
    # A finished Job of an earlier run: its pods go with it before the new one starts.
    cluster.text(["-n", namespace, "delete", "job", RESTORE_JOB, "--ignore-not-found", "--cascade=foreground"])
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", prefix="redis-restore-") as manifest:
        manifest.write(dump_quoted(job, sort_keys=False))
        manifest.flush()
        cluster.text(["apply", "-f", manifest.name])
    print(f"redis-restore: Job {RESTORE_JOB} started")
    state = ""

    def finished() -> bool:
        nonlocal state
        state = _job_state(cluster, namespace)
        return bool(state)

    suspended = f"CronJob {BACKUP} stays suspended and {REDIS} at 0 replicas"
    try:
        _wait(f"Job {RESTORE_JOB} has not finished", finished, RESTORE_WAIT_SECONDS, sleep)
        print(cluster.text(["-n", namespace, "logs", f"job/{RESTORE_JOB}", "--all-containers"]).rstrip())
    except (RestoreError, OpsError) as error:
        raise RestoreError(f"{error}; {suspended} (kubectl -n {namespace} get job {RESTORE_JOB})") from error
    if state != "Complete":
        raise RestoreError(
            f"Job {RESTORE_JOB} failed (its logs are above). {REDIS} stays at 0 replicas and CronJob {BACKUP}"
            " stays suspended, so no backup uploads an empty Redis; fix the cause and run this again (with"
            " --force once restore.sh has written an AOF)"
        )
    cluster.text(["-n", namespace, "scale", "statefulset", REDIS, "--replicas=1"])
    cluster.text(["-n", namespace, "rollout", "status", f"statefulset/{REDIS}", "--timeout=600s"])
    _suspend(cluster, namespace, False)
    print(f"redis-restore: {REDIS} serves the restored data; CronJob {BACKUP} resumed")


def _job(args: argparse.Namespace) -> dict[str, Any]:
    # Secrets get placeholders: nothing here reads them, and the Job takes the bucket key from its Secret.
    raw, secret_keys = stack_config(args.stack, None)
    prefix = NAMESPACE + ":"
    config = load_stack_config(
        {k.removeprefix(prefix): v for k, v in raw.items()},
        secret_keys={k.removeprefix(prefix) for k in secret_keys},
        stack=args.stack,
        # The providers' tokens are placeholders too: this tool calls no provider.
        environ={k: v for k, v in provider_environment().items() if v},
    )
    backup = backup_spec(config)
    if backup is None:
        raise RestoreError("etcdS3Bucket is empty, so there are no off-site Redis snapshots")
    spec = apps_spec(
        config.apps,
        config.services,
        cluster_cidr=config.k3s.cluster_cidr,
        node_cidrs=(config.nodes.private_network_cidr,),
        tls_secret_name=None,
    )
    try:
        return restore_job(spec, backup, snapshot=args.snapshot, force=args.force)
    except ValueError as error:
        raise RestoreError(f"--snapshot: {error}") from error


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.redis_restore", description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--snapshot", required=True, help="a name from `rclone lsf`, e.g. redis-20261207T023000Z.rdb")
    parser.add_argument("--force", action="store_true", help="replace an AOF already on the volume")
    parser.add_argument("--kubeconfig", default=None, help="default: build/kubeconfig-<stack>.yaml (make kubeconfig)")
    parser.add_argument("--print", action="store_true", help="print the Job and change nothing")
    args = parser.parse_args(argv)
    try:
        job = _job(args)
        if args.print:
            sys.stdout.write(dump_quoted(job, sort_keys=False))
            return 0
        run(Kubectl(args.kubeconfig or f"build/kubeconfig-{args.stack}.yaml"), job)
    except (ConfigError, RestoreError, OpsError) as error:
        print(f"redis-restore: {error}", file=sys.stderr)
        return 1 if isinstance(error, RestoreError | OpsError) else 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
