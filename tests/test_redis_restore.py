"""Issue 23 item 2: `make redis-restore` (tools/redis_restore.py) in an order that cannot lose data, against a
recording fake cluster: backups suspended before Redis stops and resumed only after it serves the restored
data; a failed restore resumes nothing. And the restore itself within the memory the Job is given, for a
dataset close to Redis's maxmemory, in a real memory cgroup."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.k8s.redis import REDIS_START
from components.k8s.redis_restore import restore_job, restore_memory_mb
from tests.test_k8s_manifests import FLEXIBLE
from tests.test_redis_backup import BACKUP, _free_port, cli, production_redis
from tests.test_redis_backup import scripts as scripts  # the fixture: the scripts as the ConfigMap ships them
from tests.test_redis_backup import tools as tools  # the fixture: redis-server, redis-cli, rclone present
from tools import redis_restore
from tools.ops import OpsError
from tools.redis_restore import RestoreError, run

SNAPSHOT = "redis-20261207T023000Z.rdb"


class FakeCluster:
    """Answers the procedure's kubectl calls; a backup Job runs for `backup_polls` polls, the restore Job
    ends as `outcome` after `job_polls` polls."""

    def __init__(
        self,
        *,
        backup_polls: int = 2,
        job_polls: int = 2,
        outcome: str = "Complete",
        fail_on: str = "",
        restoring: bool = False,
    ) -> None:
        self.calls: list[str] = []
        self.applied: list[dict[str, Any]] = []
        self.backup_polls, self.job_polls, self.outcome = backup_polls, job_polls, outcome
        self.fail_on, self.restoring = fail_on, restoring

    def text(self, args: Sequence[str]) -> str:
        self.calls.append(" ".join(args))
        if self.fail_on and self.fail_on in self.calls[-1]:
            raise OpsError(f"kubectl {self.calls[-1]} failed: timed out waiting for the condition")
        if "apply" in args:
            self.applied.append(yaml.safe_load(Path(args[args.index("-f") + 1]).read_text()))
        return "fetch.sh: ...\nrestore.sh: 42 keys restored into /data\n" if "logs" in args else ""

    def json(self, args: Sequence[str]) -> Any:
        self.calls.append(" ".join(args))
        if "jobs" in args:
            # A backup Job just created has no pod and no status yet: unfinished all the same.
            self.backup_polls -= 1
            done = {"conditions": [{"type": "Complete", "status": "True"}]}
            backup = {"metadata": {"name": "redis-backup-29412345"}, "status": {} if self.backup_polls >= 0 else done}
            restore = {"metadata": {"name": "redis-restore"}, "status": {} if self.restoring else done}
            return {"items": [backup, restore]}
        self.job_polls -= 1
        conditions = [{"type": self.outcome, "status": "True"}] if self.job_polls < 0 else []
        return {"status": {"conditions": conditions}}

    def first(self, fragment: str) -> int:
        return next(i for i, call in enumerate(self.calls) if fragment in call)


def job() -> dict[str, Any]:
    return restore_job(FLEXIBLE, BACKUP, snapshot=SNAPSHOT)


def test_backups_stop_before_redis_and_resume_after_it_serves_again() -> None:
    cluster = FakeCluster()
    run(cluster, job(), sleep=lambda _: None)
    looks = [i for i, call in enumerate(cluster.calls) if "get jobs" in call]
    order = [
        looks[0],  # a restore still running is refused before anything changes
        cluster.first('"suspend": true'),
        looks[1],
        cluster.first("scale statefulset redis --replicas=0"),
        cluster.first("wait --for=delete pod/redis-0"),
        cluster.first("delete job redis-restore"),
        cluster.first("apply -f"),
        cluster.first("get job redis-restore"),
        cluster.first("logs job/redis-restore"),
        cluster.first("scale statefulset redis --replicas=1"),
        cluster.first("rollout status statefulset/redis"),
        cluster.first('"suspend": false'),
    ]
    assert order == sorted(order), cluster.calls
    # Redis was stopped only once the running backup had finished (the first look is for a running restore).
    assert cluster.calls.count("-n honeydue get jobs -l app.kubernetes.io/name=redis-backup") == 3
    assert "--cascade=foreground" in cluster.calls[cluster.first("delete job redis-restore")]
    (applied,) = cluster.applied
    assert applied == job()


def test_a_failed_restore_leaves_redis_stopped_and_backups_suspended() -> None:
    cluster = FakeCluster(outcome="Failed")
    with pytest.raises(RestoreError, match="stays suspended, so no backup uploads an empty Redis"):
        run(cluster, job(), sleep=lambda _: None)
    assert not [c for c in cluster.calls if "--replicas=1" in c or '"suspend": false' in c]
    assert cluster.first("logs job/redis-restore") > cluster.first("get job redis-restore")


def test_redis_never_stopped_means_backups_resumed_and_the_error_says_so() -> None:
    cluster = FakeCluster(fail_on="wait --for=delete")
    with pytest.raises(RestoreError, match=r"CronJob redis-backup resumed\. If redis was scaled to 0, scale it back"):
        run(cluster, job(), sleep=lambda _: None)
    assert cluster.first('"suspend": false') > cluster.first("wait --for=delete")
    assert not [c for c in cluster.calls if "apply" in c]


def test_a_restore_still_running_is_never_joined_by_a_second() -> None:
    cluster = FakeCluster(restoring=True)
    with pytest.raises(RestoreError, match="another restore runs; nothing changed"):
        run(cluster, job(), sleep=lambda _: None)
    assert cluster.calls == ["-n honeydue get jobs -l app.kubernetes.io/name=redis-backup"]


def test_the_tool_needs_a_name_and_says_so_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        redis_restore.main([])
    assert exit_info.value.code == 2 and "--snapshot" in capsys.readouterr().err


# --- the restore within the Job's memory ------------------------------------------------------------------

MEMORY_CGROUPS = Path("/sys/fs/cgroup/memory")


def _populate_close_to(port: int, maxmemory_mb: int) -> int:
    """Random (incompressible) 1 kB values until Redis refuses writes at maxmemory (noeviction)."""
    commands = bytearray()
    for i in range(maxmemory_mb * 1024):  # more than fits: the last ones are refused
        key, value = b"key:%d" % i, os.urandom(500).hex().encode()
        commands += b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(key), key, len(value), value)
    env = {"PATH": os.environ["PATH"], "REDISCLI_AUTH": "Pw0rdForTheBackupTest0nly"}
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=bytes(commands), env=env, capture_output=True,
                   timeout=60, check=False)  # fmt: skip
    return int(cli(port, "dbsize"))


def _restore_in_cgroup(tmp_path: Path, scripts: Path, snap: Path, limit_mb: int) -> subprocess.CompletedProcess[str]:
    """restore.sh with everything it starts (the temporary redis-server and its fork) in a memory cgroup of
    limit_mb, as the container's limit confines them."""
    group = MEMORY_CGROUPS / f"honeydue-restore-{uuid.uuid4().hex[:8]}"
    group.mkdir()
    data = tmp_path / f"data-{limit_mb}"
    data.mkdir()
    try:
        (group / "memory.limit_in_bytes").write_text(f"{limit_mb}M")
        env = {"PATH": os.environ["PATH"], "SNAPSHOT_DIR": str(snap), "DATA_DIR": str(data),
               "RESTORE_PORT": str(_free_port()), "CGROUP_PROCS": str(group / "cgroup.procs")}  # fmt: skip
        script = f'echo $$ > "$CGROUP_PROCS" && exec sh {scripts / "restore.sh"}'
        return subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True, timeout=120)
    finally:
        group.rmdir()


@pytest.mark.skipif(not os.access(MEMORY_CGROUPS, os.W_OK), reason="needs a writable cgroup v1 memory controller")
def test_a_dataset_close_to_maxmemory_restores_within_the_jobs_limit_and_not_within_maxmemory(
    tmp_path: Path, scripts: Path
) -> None:
    """At 1/16 of production's scale (32 MB instead of 512 MB, the same rule): the old limit, the size of
    maxmemory, gets the restore killed; restore_memory_mb's does not."""
    maxmemory = 32
    live, snap = tmp_path / "live", tmp_path / "snap"
    live.mkdir()
    snap.mkdir()
    start = REDIS_START.replace("--maxmemory 512mb", f"--maxmemory {maxmemory}mb")
    assert start != REDIS_START
    with production_redis(live, start=start) as port:
        keys = _populate_close_to(port, maxmemory)
        used = int(cli(port, "info", "memory").split("used_memory:")[1].split()[0])
        assert used > 0.9 * maxmemory * 2**20, used  # close to maxmemory
        # SAVE, not dump.sh's `--rdb`: the same RDB without the replication's 5 s diskless-sync delay.
        cli(port, "save")
    (live / "dump.rdb").rename(snap / "dump.rdb")
    killed = _restore_in_cgroup(tmp_path, scripts, snap, maxmemory)
    assert killed.returncode != 0, killed.stdout
    restored = _restore_in_cgroup(tmp_path, scripts, snap, restore_memory_mb(maxmemory))
    assert restored.returncode == 0, restored.stderr
    assert f"{keys} keys restored" in restored.stdout
