"""The Redis backup and restore procedure, run for real: the CronJob's own scripts and environment
against a real redis-server, rclone writing to a local directory that stands in for B2, then a restore
into a fresh data directory and the production start script (AOF on) serving the same keys.

Needs redis-server, redis-cli, redis-check-rdb and rclone (Debian packages, `make system-deps`).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from components.k8s.redis import REDIS_START
from components.k8s.redis_backup import SCRIPTS, BackupSpec, backup_objects
from tests.test_k8s_manifests import FLEXIBLE, find
from tests.validators import require_tool

PASSWORD = "Pw0rdForTheBackupTest0nly"
BACKUP = BackupSpec(
    schedule="*/30 * * * *",
    bucket="honeydue-etcd-snapshots",
    folder="redis",
    endpoint="s3.eu-central-003.backblazeb2.com",
    region="eu-central-003",
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module", autouse=True)
def tools() -> None:
    for tool in ("redis-server", "redis-cli", "redis-check-rdb", "rclone"):
        require_tool(tool)


@contextmanager
def production_redis(data: Path, start: str = REDIS_START) -> Iterator[int]:
    """redis-server started by the StatefulSet's own start script (AOF on) on `data`."""
    port = _free_port()
    script = start.replace("6379", str(port)).replace("/data", str(data))
    env = {"PATH": os.environ["PATH"], "REDIS_PASSWORD": PASSWORD}
    server = subprocess.Popen(["sh", "-c", script], env=env, start_new_session=True)
    try:
        for _ in range(100):
            if cli(port, "ping", check=False) == "PONG":
                break
            time.sleep(0.1)
        else:
            pytest.fail("redis did not start")
        yield port
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def cli(port: int, *args: str, check: bool = True) -> str:
    env = {"PATH": os.environ["PATH"], "REDISCLI_AUTH": PASSWORD}
    run = subprocess.run(["redis-cli", "-p", str(port), *args], env=env, capture_output=True, text=True, timeout=10)
    if check:
        assert run.returncode == 0, run.stderr
    return run.stdout.strip()


def populate(port: int) -> None:
    """What Asynq keeps: strings, lists (pending), sorted sets (scheduled/retry), hashes (tasks), sets; and a
    key in database 1, which DBSIZE (database 0's count) would not count."""
    cli(port, "-n", "1", "set", "in-db-1", "x")
    cli(port, "set", "asynq:servers:x", "v1")
    cli(port, "rpush", "asynq:{default}:pending", "t1", "t2", "t3")
    cli(port, "zadd", "asynq:{default}:scheduled", "1700000000", "t4", "1800000000", "t5")
    cli(port, "hset", "asynq:{default}:t:t1", "msg", "payload \x01 bytes", "state", "pending")
    cli(port, "sadd", "asynq:queues", "default", "critical")
    cli(port, "set", "expiring", "soon", "EX", "3600")


def snapshot_of(port: int) -> dict[str, Any]:
    """Every key with its type and full value, comparable across servers."""
    keys = sorted(cli(port, "--scan").splitlines())
    reads = {
        "string": ("get",),
        "list": ("lrange", "0", "-1"),
        "zset": ("zrange", "0", "-1", "withscores"),
        "hash": ("hgetall",),
        "set": ("smembers",),
    }
    state: dict[str, Any] = {}
    for key in keys:
        kind = cli(port, "type", key)
        command, *rest = reads[kind]
        value = cli(port, command, key, *rest).splitlines()
        state[key] = (kind, sorted(value) if kind in ("set", "hash") else value, int(cli(port, "ttl", key)) > 0)
    return state


def container_env(name: str) -> dict[str, str]:
    """The plain (non-secret) environment of one CronJob container, as the manifest sets it."""
    job = find(backup_objects(FLEXIBLE, BACKUP), "CronJob", "redis-backup")
    pod = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    (container,) = [c for c in pod["initContainers"] + pod["containers"] if c["name"] == name]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@pytest.fixture
def scripts(tmp_path: Path) -> Path:
    """The scripts exactly as the ConfigMap ships them."""
    (config_map,) = [o for o in backup_objects(FLEXIBLE, BACKUP) if o["kind"] == "ConfigMap"]
    directory = tmp_path / "scripts"
    directory.mkdir()
    for name in SCRIPTS:
        (directory / name).write_text(config_map["data"][name])
    return directory


def run_script(scripts: Path, name: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    full = {"PATH": os.environ["PATH"], "HOME": str(cwd)} | env
    return subprocess.run(["sh", str(scripts / name)], env=full, cwd=cwd, capture_output=True, text=True, timeout=120)


def offsite(env: dict[str, str], cwd: Path) -> dict[str, str]:
    """The manifest's rclone environment with the remote switched to a local directory under `cwd`:
    `offsite:<bucket>/<folder>` then names <cwd>/<bucket>/<folder>, the same path the job uses in B2."""
    env = env | {"RCLONE_CONFIG_OFFSITE_TYPE": "local", "RCLONE_CONFIG": str(cwd / "rclone.conf")}
    env["RCLONE_CACHE_DIR"] = str(cwd / "rclone-cache")
    return env


def test_backup_then_restore_into_a_fresh_redis_gives_the_same_keys(tmp_path: Path, scripts: Path) -> None:
    live, snap, fetched, restored = (tmp_path / d for d in ("live", "snap", "fetched", "restored"))
    for d in (live, snap, fetched, restored):
        d.mkdir()
    dump_env = container_env("dump")
    upload_env = offsite(container_env("upload"), tmp_path)
    with production_redis(live) as port:
        populate(port)
        cli(port, "config", "set", "repl-diskless-sync-delay", "0")  # the test's server: no 5 s wait for replicas
        before = snapshot_of(port)
        env = dump_env | {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "SNAPSHOT_DIR": str(snap)}
        dumped = run_script(scripts, "dump.sh", env | {"REDISCLI_AUTH": PASSWORD}, tmp_path)
        assert dumped.returncode == 0, dumped.stderr
        uploaded = run_script(scripts, "upload.sh", upload_env | {"SNAPSHOT_DIR": str(snap)}, tmp_path)
        assert uploaded.returncode == 0, uploaded.stderr
        cli(port, "set", "after-the-snapshot", "x")  # a snapshot is a point in time
    (stored,) = (tmp_path / BACKUP.bucket / BACKUP.folder).iterdir()
    assert stored.name.startswith("redis-") and stored.suffix == ".rdb"

    fetch_env = upload_env | {"SNAPSHOT_DIR": str(fetched), "SNAPSHOT": stored.name}
    fetched_run = run_script(scripts, "fetch.sh", fetch_env, tmp_path)
    assert fetched_run.returncode == 0, fetched_run.stderr
    restore_env = {"SNAPSHOT_DIR": str(fetched), "DATA_DIR": str(restored), "RESTORE_PORT": str(_free_port())}
    # Where the Job looks for a running Redis: nothing listens there now.
    restore_env |= {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(_free_port())}
    restore = run_script(scripts, "restore.sh", restore_env | {"REDISCLI_AUTH": PASSWORD}, tmp_path)
    assert restore.returncode == 0, restore.stderr + restore.stdout
    assert f"{len(before) + 1} keys restored" in restore.stdout  # database 1's key too
    assert (restored / "appendonlydir").is_dir()  # Redis with AOF on loads this, not a lone dump.rdb

    with production_redis(restored) as port:
        assert snapshot_of(port) == before
        assert cli(port, "-n", "1", "get", "in-db-1") == "x"


def test_a_lone_rdb_is_ignored_by_redis_with_aof_on(tmp_path: Path, scripts: Path) -> None:
    """The control for restore.sh's AOF conversion: copying dump.rdb into the data directory alone would
    start production Redis empty."""
    live, copied = tmp_path / "live", tmp_path / "copied"
    live.mkdir()
    copied.mkdir()
    with production_redis(live) as port:
        populate(port)
        cli(port, "config", "set", "repl-diskless-sync-delay", "0")
        assert cli(port, "--rdb", str(copied / "dump.rdb"), check=False) is not None
    with production_redis(copied) as port:
        assert cli(port, "dbsize") == "0"


def test_restore_refuses_existing_data_and_fetch_an_empty_bucket(tmp_path: Path, scripts: Path) -> None:
    data, snap = tmp_path / "data", tmp_path / "snap"
    data.mkdir()
    snap.mkdir()
    with production_redis(data) as port:
        populate(port)
        cli(port, "config", "set", "repl-diskless-sync-delay", "0")
        env = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "SNAPSHOT_DIR": str(snap), "REDISCLI_AUTH": PASSWORD}
        assert run_script(scripts, "dump.sh", env, tmp_path).returncode == 0
        wrong = run_script(scripts, "dump.sh", env | {"REDISCLI_AUTH": "wrong"}, tmp_path)
        assert wrong.returncode != 0
        # Redis still runs (its Service answers, NOAUTH included): nothing is touched, FORCE or not.
        running = {"SNAPSHOT_DIR": str(snap), "DATA_DIR": str(data), "FORCE": "yes", "REDIS_HOST": "127.0.0.1"}
        answered = run_script(scripts, "restore.sh", running | {"REDIS_PORT": str(port)}, tmp_path)
        assert answered.returncode == 5 and "Redis answers at 127.0.0.1 (NOAUTH" in answered.stderr
        assert (data / "appendonlydir").is_dir() and not (data / "dump.rdb").exists()
    refused = run_script(scripts, "restore.sh", {"SNAPSHOT_DIR": str(snap), "DATA_DIR": str(data)}, tmp_path)
    assert refused.returncode == 4 and "FORCE=yes" in refused.stderr
    bucket = offsite(container_env("upload"), tmp_path)
    folder = tmp_path / BACKUP.bucket / BACKUP.folder
    folder.mkdir(parents=True)
    (folder / "redis-20261201T000000Z.rdb").write_bytes(b"x")
    # No name: the list to choose from, and nothing fetched (the newest may be an empty Redis's).
    unnamed = run_script(scripts, "fetch.sh", bucket | {"SNAPSHOT_DIR": str(snap)}, tmp_path)
    assert unnamed.returncode == 3 and "SNAPSHOT is not set" in unnamed.stderr
    assert "redis-20261201T000000Z.rdb" in unnamed.stderr
    # A name that is not there: rclone's failure is the step's.
    absent = bucket | {"SNAPSHOT_DIR": str(snap), "SNAPSHOT": "redis-20261202T000000Z.rdb"}
    assert run_script(scripts, "fetch.sh", absent, tmp_path).returncode != 0
    # A bucket rclone cannot list fails the listing too (no pipe hides its status).
    broken = bucket | {"SNAPSHOT_DIR": str(snap), "RCLONE_CONFIG_OFFSITE_TYPE": "no-such-backend"}
    listing = run_script(scripts, "fetch.sh", broken, tmp_path)
    assert listing.returncode not in (0, 3), listing.stderr


def test_upload_prunes_snapshots_older_than_the_retention(tmp_path: Path, scripts: Path) -> None:
    snap = tmp_path / "snap"
    snap.mkdir()
    (snap / "dump.rdb").write_bytes(b"not checked by upload")
    folder = tmp_path / BACKUP.bucket / BACKUP.folder
    folder.mkdir(parents=True)
    old, other = folder / "redis-20200101T000000Z.rdb", folder / "keep-me.txt"
    for path in (old, other):
        path.write_text("old")
        os.utime(path, (time.time() - 30 * 86400,) * 2)
    env = offsite(container_env("upload"), tmp_path) | {"SNAPSHOT_DIR": str(snap)}
    assert run_script(scripts, "upload.sh", env, tmp_path).returncode == 0
    names = sorted(p.name for p in folder.iterdir())
    assert "redis-20200101T000000Z.rdb" not in names and "keep-me.txt" in names and len(names) == 2
