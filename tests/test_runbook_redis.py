"""Issue 23 item 5: the runbook's Redis commands run as written.

The blocks marked `<!-- commands: tested: tests/test_runbook_redis.py (<id>) -->` in docs/runbook.md are
read from the runbook and run in bash, their placeholders filled from the prod stack config: rclone against
a local S3 endpoint over TLS (tests/fake_s3.py) standing in for B2, and `kubectl exec redis-0 -- …` run by a
fake kubectl against a real redis-server started by the StatefulSet's own start script. The upload is then
fetched back by the restore Job's own fetch.sh with the Job's environment: what the runbook uploads is what
`make redis-restore` can restore.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from components.k8s.redis_backup import offsite_env, script_text
from components.k8s.redis_restore import SNAPSHOT_NAME, restore_job
from offline.stack_config import PROJECT_DIR
from tests.conftest import load_prod
from tests.fake_s3 import fake_s3
from tests.test_k8s_manifests import FLEXIBLE
from tests.test_redis_backup import BACKUP, PASSWORD, cli, populate, production_redis
from tests.validators import require_tool

KEY_ID, APPLICATION_KEY = "0050test-redis-backup-key", "K005testRedisBackupApplicationKey"


def block(block_id: str) -> str:
    """The shell block under the runbook's `tested:` marker with this id, dedented."""
    text = (PROJECT_DIR / "docs" / "runbook.md").read_text(encoding="utf-8")
    marker = f"<!-- commands: tested: tests/test_runbook_redis.py ({block_id}) -->"
    assert text.count(marker) == 1, block_id
    fence = re.search(r"^( *)```sh\n(.*?)^\1```", text.split(marker, 1)[1], re.ASCII | re.MULTILINE | re.DOTALL)
    assert fence is not None, block_id
    return "\n".join(line[len(fence.group(1)) :] for line in fence.group(2).splitlines()) + "\n"


def fill(body: str, endpoint: str) -> str:
    """The placeholders as the operator reads them from Pulumi.prod.yaml; the endpoint is the local one."""
    config = load_prod()
    assert config.k3s.etcd_s3 is not None
    values = {
        "etcdS3Bucket": config.k3s.etcd_s3.bucket,
        "redisBackupFolder": config.maintenance.redis_backup_folder,
        "etcdS3Region": config.k3s.etcd_s3.region,
        "etcdS3Endpoint": endpoint,
    }
    filled = re.sub(r"<(\w+)>", lambda m: values[m.group(1)], body)
    assert "<" not in filled, filled
    return filled


def run_bash(script: str, cwd: Path, env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env, input=stdin, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip


@pytest.fixture
def shell_env(tmp_path: Path) -> dict[str, str]:
    require_tool("rclone")
    # RCLONE_CA_CERT trusts the local endpoint's certificate (B2's is public); no rclone config file.
    return {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "RCLONE_CONFIG": str(tmp_path / "none.conf")}


def test_the_listing_uses_the_backup_key_the_endpoint_and_the_region(tmp_path: Path, shell_env: dict[str, str]) -> None:
    config = load_prod()
    assert config.k3s.etcd_s3 is not None
    bucket, folder, region = config.k3s.etcd_s3.bucket, config.maintenance.redis_backup_folder, region_of()
    with fake_s3(tmp_path) as (endpoint, ca, store):
        store_objects(store, bucket, {f"{folder}/redis-20261207T020000Z.rdb": b"R" * 5000,
                                      f"{folder}/redis-20261207T023000Z.rdb": b"E" * 90,
                                      f"{folder}/notes.txt": b"x", "etcd/etcd-snapshot-1": b"e"})  # fmt: skip
        listing = run_bash(fill(block("offsite-listing"), endpoint), tmp_path, shell_env | {"RCLONE_CA_CERT": str(ca)},
                           f"{KEY_ID}\n{APPLICATION_KEY}\n")  # fmt: skip
    assert listing.returncode == 0, listing.stderr
    rows = [line.split(" ") for line in listing.stdout.splitlines()]
    # time, size, name: only snapshots of the Redis folder, sizes shown (the 90-byte one is an empty Redis's).
    assert [(size, name) for *_, size, name in rows] == [
        ("5000", "redis-20261207T020000Z.rdb"),
        ("90", "redis-20261207T023000Z.rdb"),
    ]
    signed = [auth for _, _, auth in store[bucket].requests]
    assert signed and all(f"Credential={KEY_ID}/" in auth and f"/{region}/s3/aws4_request" in auth for auth in signed)


def region_of() -> str:
    config = load_prod()
    assert config.k3s.etcd_s3 is not None
    return config.k3s.etcd_s3.region


def store_objects(store: dict[str, object], bucket: str, objects: dict[str, bytes]) -> None:
    from datetime import UTC, datetime, timedelta

    from tests.fake_s3 import Bucket

    target = store.setdefault(bucket, Bucket())
    assert isinstance(target, Bucket)
    for i, (key, body) in enumerate(objects.items()):
        target.objects[key] = (body, datetime(2026, 12, 7, 2, tzinfo=UTC) + timedelta(minutes=30 * i))


def fake_kubectl(tmp_path: Path, port: int) -> Path:
    """`kubectl -n honeydue exec redis-0 -- CMD…` runs CMD here with the pod's REDISCLI_AUTH, redis-cli
    pointed at the test's Redis (in the pod it is Redis's own 127.0.0.1:6379)."""
    bin_dir = tmp_path / "fakebin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(
        "#!/usr/bin/env bash\nset -euo pipefail\n"
        '[[ "$1 $2 $3 $4 $5" == "-n honeydue exec redis-0 --" ]] || { echo "fake kubectl: $*" >&2; exit 2; }\n'
        'shift 5\n[[ $1 == redis-cli ]] && { shift; set -- redis-cli -p "$FAKE_REDIS_PORT" "$@"; }\n'
        f'REDISCLI_AUTH={PASSWORD} exec "$@"\n'
    )
    kubectl.chmod(0o755)
    return bin_dir


def test_the_migration_copies_checks_uploads_and_the_job_fetches_it_back(
    tmp_path: Path, shell_env: dict[str, str]
) -> None:
    for tool in ("redis-server", "redis-cli", "redis-check-rdb"):
        require_tool(tool)
    data, fetched = tmp_path / "data", tmp_path / "fetched"
    data.mkdir()
    fetched.mkdir()
    with production_redis(data) as port:
        populate(port)
        cli(port, "config", "set", "repl-diskless-sync-delay", "0")  # the test's server: no 5 s wait for replicas
        env = shell_env | {"PATH": f"{fake_kubectl(tmp_path, port)}:{shell_env['PATH']}", "FAKE_REDIS_PORT": str(port)}
        copy = run_bash(block("migration-copy"), tmp_path, env)
    assert copy.returncode == 0, copy.stderr
    copied = (tmp_path / "redis-migrate.rdb").read_bytes()
    assert copied.startswith(b"REDIS")  # the snapshot itself on stdout, progress on stderr
    with fake_s3(tmp_path) as (endpoint, ca, store):
        # The upload runs in the shell the listing block set up (its exports), as the runbook says.
        script = fill(block("offsite-listing") + block("migration-upload"), endpoint)
        upload = run_bash(script, tmp_path, env | {"RCLONE_CA_CERT": str(ca)}, f"{KEY_ID}\n{APPLICATION_KEY}\n")
        assert upload.returncode == 0, upload.stderr
        (key,) = store[BACKUP.bucket].objects
        folder, name = key.rsplit("/", 1)
        assert (
            folder == BACKUP.folder and SNAPSHOT_NAME.fullmatch(name) and store[BACKUP.bucket].objects[key][0] == copied
        )
        restore_job(FLEXIBLE, BACKUP, snapshot=name)  # the name `make redis-restore SNAPSHOT=` takes
        fetch = fetch_with_the_jobs_environment(tmp_path, endpoint, ca, fetched, name)
    assert fetch.returncode == 0, fetch.stderr
    assert (fetched / "dump.rdb").read_bytes() == copied


def fetch_with_the_jobs_environment(
    tmp_path: Path, endpoint: str, ca: Path, snapshot_dir: Path, name: str
) -> subprocess.CompletedProcess[str]:
    """The restore Job's fetch.sh with the Job's own rclone environment, only the endpoint local."""
    env = {e["name"]: e["value"] for e in offsite_env(BACKUP) if "value" in e}
    env |= {"RCLONE_CONFIG_OFFSITE_ENDPOINT": f"https://{endpoint}", "RCLONE_CA_CERT": str(ca)}
    env |= {"RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID": KEY_ID, "RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY": APPLICATION_KEY}
    env |= {"RCLONE_CONFIG": str(tmp_path / "job.conf"), "RCLONE_CACHE_DIR": str(tmp_path / "cache")}
    env |= {"HOME": str(tmp_path), "PATH": os.environ["PATH"], "SNAPSHOT_DIR": str(snapshot_dir), "SNAPSHOT": name}
    script = tmp_path / "fetch.sh"
    script.write_text(script_text("fetch.sh"))
    return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=60)
