"""tools/status.py and tools/status_bucket.py: certificate expiry from real certificates (made with openssl),
snapshot limits from cron schedules, snapshot ages from `rclone lsjson` listings (canned, and the real rclone
against a local directory standing in for the bucket), failed backup Jobs, and the whole command with a
fake kubectl, down to the GitHub outputs the status workflow reads."""

from __future__ import annotations

import base64
import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.validators import require_tool
from tools import status, status_bucket
from tools.status_bucket import Bucket, BucketError, Limit, Snapshot

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
KEYS = {"STATUS_B2_KEY_ID": "0031234567890ab0000000001", "STATUS_B2_APPLICATION_KEY": "K003-list-only-test"}


def make_cert(tmp_path: Path, days: int) -> str:
    key, crt = tmp_path / f"k{days}.pem", tmp_path / f"c{days}.pem"
    subprocess.run(
        [require_tool("openssl"), "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", str(key), "-out", str(crt), "-days", str(days), "-subj", "/CN=honeydue-test"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return crt.read_text()


def test_certificate_not_after_is_read_from_the_pem(tmp_path: Path) -> None:
    not_after = status.certificate_not_after(make_cert(tmp_path, 10))
    assert timedelta(days=9, hours=23) < not_after - datetime.now(UTC) <= timedelta(days=10)


def test_expiry_levels() -> None:
    assert status.expiry_line("c", NOW + timedelta(days=100), NOW, 60, 14).level == "OK"
    assert status.expiry_line("c", NOW + timedelta(days=30), NOW, 60, 14).level == "WARN"
    assert status.expiry_line("c", NOW + timedelta(days=3), NOW, 60, 14).level == "FAIL"
    assert "expired" in status.expiry_line("c", NOW - timedelta(days=1), NOW, 60, 14).detail


# ------------------------------------------------------------------------------ limits from schedules


@pytest.mark.parametrize(
    ("schedule", "gap", "limit"),
    [
        ("0 */6 * * *", timedelta(hours=6), timedelta(hours=13)),  # etcdSnapshotSchedule's default
        ("*/30 * * * *", timedelta(minutes=30), timedelta(hours=2)),  # redisBackupSchedule's default
        ("0 3 * * 1", timedelta(days=7), timedelta(days=14, hours=1)),
        ("0 2,3 * * *", timedelta(hours=23), timedelta(hours=47)),  # the longest gap, not the shortest
        ("0 4 * * mon-fri", timedelta(days=3), timedelta(days=6, hours=1)),  # Friday to Monday
    ],
)
def test_the_limit_is_twice_the_longest_gap_of_the_schedule_plus_an_hour(
    schedule: str, gap: timedelta, limit: timedelta
) -> None:
    assert status_bucket.longest_gap(schedule) == gap
    assert status_bucket.schedule_limit(schedule).age == limit
    assert repr(schedule) in status_bucket.schedule_limit(schedule).why


@pytest.mark.parametrize("schedule", ["0 3 * * 7", "0 0 30 2 *", "@daily", "0 */6 * *"])
def test_a_schedule_the_stack_would_refuse_has_no_limit(schedule: str) -> None:
    with pytest.raises(ValueError, match=r"never fires|field|not a 5-field cron schedule"):
        status_bucket.longest_gap(schedule)


def test_bucket_and_schedules_come_from_the_stack_file_over_the_defaults() -> None:
    bucket = status_bucket.bucket_settings("prod")
    assert bucket == Bucket(
        name="honeydue-etcd-snapshots",
        endpoint="s3.eu-central-003.backblazeb2.com",
        region="eu-central-003",
        etcd_folder="prod",  # Pulumi.prod.yaml
        redis_folder="redis",  # Pulumi.yaml's default
        etcd_schedule="0 */6 * * *",
        redis_schedule="*/30 * * * *",
    )


# ------------------------------------------------------------------------------------ the listing


def lsjson(*entries: tuple[str, str, bool]) -> str:
    return json.dumps([{"Path": n, "Name": n, "Size": 0 if d else 1, "ModTime": t, "IsDir": d} for n, t, d in entries])


def test_the_newest_snapshot_is_the_newest_file_by_mod_time() -> None:
    listing = lsjson(
        (".metadata", "2026-11-30T11:59:00Z", True),  # K3s's metadata folder: no snapshot
        ("etcd-snapshot-honeydue-1-1796040000", "2026-11-30T06:00:05.123456789Z", False),
        # Its name sorts last, its upload is older: the upload time decides.
        ("etcd-snapshot-honeydue-3-1796050000", "2026-11-30T06:00:01+00:00", False),
        ("etcd-snapshot-honeydue-2-1796030000", "2026-11-30T07:00:00.5+01:00", False),  # 06:00:00.5 UTC
    )
    newest = status_bucket.newest_snapshot(listing)
    assert newest == Snapshot("etcd-snapshot-honeydue-1-1796040000", datetime(2026, 11, 30, 6, 0, 5, 123456, UTC))
    assert status_bucket.newest_snapshot("[]") is None
    assert status_bucket.newest_snapshot(lsjson((".metadata", "2026-11-30T11:59:00Z", True))) is None


def test_only_redis_snapshots_count_in_the_redis_folder() -> None:
    listing = lsjson(
        ("redis-20261130T103000Z.rdb", "2026-11-30T10:30:02Z", False),
        ("redis-20261130T110000Z.rdb", "2026-11-30T11:00:03Z", False),
        ("notes.txt", "2026-11-30T11:58:00Z", False),
        ("redis-20261130T113000Z.rdb.partial", "2026-11-30T11:30:01Z", False),
    )
    newest = status_bucket.newest_snapshot(listing, status_bucket.REDIS_SNAPSHOT)
    assert newest is not None and newest.name == "redis-20261130T110000Z.rdb"


@pytest.mark.parametrize(
    "text", ["", "not json", '{"Name": "x"}', '[{"Name": "x"}]', '[{"Name": "x", "ModTime": "y"}]']
)
def test_a_listing_that_is_not_one_is_a_bucket_error(text: str) -> None:
    with pytest.raises(BucketError, match="rclone lsjson printed no listing"):
        status_bucket.newest_snapshot(text)


def test_age_lines() -> None:
    limit = Limit(timedelta(hours=13), "2 x the 6 h gap of '0 */6 * * *' + 1 h")
    assert status.age_line("etcd", None, NOW, limit, "offsite:b/prod").level == "FAIL"
    stale = status.age_line("etcd", Snapshot("s", NOW - timedelta(hours=14)), NOW, limit, "offsite:b/prod")
    assert stale.level == "FAIL" and "14.0 h old (limit 13 h: 2 x the 6 h gap" in stale.detail
    fresh = status.age_line("etcd", Snapshot("s", NOW - timedelta(hours=6)), NOW, limit, "offsite:b/prod")
    assert fresh.level == "OK" and fresh.detail.startswith("s, 2026-11-30 06:00 UTC, 6.0 h old")


def test_the_rclone_remote_is_the_backup_jobs_with_the_list_only_key_and_nothing_else() -> None:
    bucket = status_bucket.bucket_settings("prod")
    assert bucket is not None
    with pytest.raises(BucketError, match="STATUS_B2_KEY_ID and STATUS_B2_APPLICATION_KEY not set"):
        status_bucket.rclone_env(bucket, {"PATH": "/usr/bin"})
    environ = KEYS | {"PATH": "/usr/bin", "RCLONE_CONFIG_OFFSITE_TYPE": "local", "AWS_SECRET_ACCESS_KEY": "x"}
    env = status_bucket.rclone_env(bucket, environ)
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/tmp",
        "RCLONE_CONFIG": os.devnull,  # no operator's rclone.conf
        "RCLONE_CONFIG_OFFSITE_TYPE": "s3",
        "RCLONE_CONFIG_OFFSITE_PROVIDER": "Other",
        "RCLONE_CONFIG_OFFSITE_ENDPOINT": "https://s3.eu-central-003.backblazeb2.com",
        "RCLONE_CONFIG_OFFSITE_REGION": "eu-central-003",
        "RCLONE_CONFIG_OFFSITE_NO_CHECK_BUCKET": "true",
        "RCLONE_CONFIG_OFFSITE_ACCESS_KEY_ID": KEYS["STATUS_B2_KEY_ID"],
        "RCLONE_CONFIG_OFFSITE_SECRET_ACCESS_KEY": KEYS["STATUS_B2_APPLICATION_KEY"],
    }


# ------------------------------------------------------------------ the real rclone, a local "bucket"


def stand_in_bucket(tmp_path: Path, now: datetime, ages: dict[str, float]) -> Bucket:
    """A directory standing in for the bucket, with files `folder/name` whose mtimes are `ages` hours ago."""
    root = tmp_path / "bucket"
    for name, age in ages.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"snapshot")
        stamp = (now - timedelta(hours=age)).timestamp()
        os.utime(path, (stamp, stamp))
    return Bucket(name=str(root), endpoint="127.0.0.1:9", region="eu-central-003", etcd_folder="prod",
                  redis_folder="redis", etcd_schedule="0 */6 * * *", redis_schedule="*/30 * * * *")  # fmt: skip


def local(bucket: Bucket) -> dict[str, str]:
    """The remote as `make status` configures it, switched to rclone's local backend (tests/test_redis_backup.py
    does the same): offsite:<bucket>/<folder> is then that directory."""
    return status_bucket.rclone_env(bucket, KEYS | {"PATH": os.environ["PATH"]}) | {
        "RCLONE_CONFIG_OFFSITE_TYPE": "local"
    }


LIMITS = (status_bucket.schedule_limit("0 */6 * * *"), status_bucket.schedule_limit("*/30 * * * *"))


def test_real_rclone_reads_the_ages_from_the_bucket(tmp_path: Path) -> None:
    require_tool("rclone")
    now = datetime.now(UTC)
    bucket = stand_in_bucket(tmp_path, now, {
        "prod/etcd-snapshot-honeydue-1-1796040000": 8, "prod/etcd-snapshot-honeydue-2-1796050000": 2,
        "prod/.metadata/etcd-snapshot-honeydue-3-1796060000": 0.1,  # K3s's metadata: not a snapshot
        "redis/redis-20261130T070000Z.rdb": 5, "redis/notes.txt": 0.1,
    })  # fmt: skip
    etcd, redis = status.snapshot_lines(bucket, local(bucket), now, LIMITS)
    assert etcd.level == "OK" and etcd.detail.startswith("etcd-snapshot-honeydue-2-1796050000, "), etcd
    assert "2.0 h old (limit 13 h" in etcd.detail
    # Five hours without a Redis snapshot: twice the 30-minute gap plus an hour is long gone.
    assert redis.level == "FAIL" and "redis-20261130T070000Z.rdb" in redis.detail, redis
    assert "5.0 h old (limit 2 h: 2 x the 0.5 h gap of '*/30 * * * *' + 1 h)" in redis.detail


def test_real_rclone_failures_are_one_fail_line_each_naming_what_failed(tmp_path: Path) -> None:
    require_tool("rclone")
    now = datetime.now(UTC)
    bucket = stand_in_bucket(tmp_path, now, {"prod/etcd-snapshot-honeydue-1-1796040000": 1})
    etcd, redis = status.snapshot_lines(bucket, local(bucket), now, LIMITS)
    assert etcd.level == "OK"
    assert redis.level == "FAIL" and redis.detail.startswith(f"rclone lsjson offsite:{bucket.name}/redis failed: ")
    assert redis.detail.endswith("directory not found"), redis.detail  # rclone's last line, without its timestamp
    # The S3 remote itself, at an endpoint nothing listens on: no network needed, and no traceback.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    closed = Bucket(**(vars(bucket) | {"endpoint": f"127.0.0.1:{port}"}))
    env = status_bucket.rclone_env(closed, KEYS | {"PATH": os.environ["PATH"]})
    lines = status.snapshot_lines(closed, env, now, LIMITS)
    assert [line.level for line in lines] == ["FAIL", "FAIL"]
    assert all("failed: " in line.detail and "connection refused" in line.detail for line in lines), lines
    missing = status.offsite_lines(closed, {"PATH": os.environ["PATH"]}, now, (None, None))
    assert [(m.level, m.what) for m in missing] == [("FAIL", "off-site snapshots")]
    assert "STATUS_B2_KEY_ID and STATUS_B2_APPLICATION_KEY not set" in missing[0].detail


def test_the_hours_flags_override_the_schedules(tmp_path: Path) -> None:
    require_tool("rclone")
    now = datetime.now(UTC)
    bucket = stand_in_bucket(tmp_path, now, {"prod/etcd-snapshot-honeydue-1-1796040000": 3, "redis/redis-x.rdb": 5})
    assert status.snapshot_limits(bucket, None, None) == LIMITS
    limits = status.snapshot_limits(bucket, 2, 6)
    assert limits == (Limit(timedelta(hours=2), "--etcd-hours"), Limit(timedelta(hours=6), "--redis-hours"))
    etcd, redis = status.snapshot_lines(bucket, local(bucket), now, limits)
    assert (etcd.level, redis.level) == ("FAIL", "OK")
    assert "(limit 2 h: --etcd-hours)" in etcd.detail and "(limit 6 h: --redis-hours)" in redis.detail
    assert status.offsite_lines(None, {}, now, (None, None))[0].level == "WARN"  # nothing leaves the cluster


# ------------------------------------------------------------------------------- failed backup Jobs


def job(name: str, failed_at: str | None, owner: str = "redis-backup", kind: str = "CronJob") -> dict[str, Any]:
    conditions = [{"type": "Complete", "status": "True", "lastTransitionTime": "2026-11-30T11:00:40Z"}]
    if failed_at is not None:
        conditions = [
            {"type": "FailureTarget", "status": "True", "lastTransitionTime": failed_at},
            {"type": "Failed", "status": "True", "lastTransitionTime": failed_at,
             "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"},
        ]  # fmt: skip
    owners = [{"apiVersion": "batch/v1", "kind": kind, "name": owner, "controller": True}] if owner else []
    return {"metadata": {"name": name, "ownerReferences": owners}, "status": {"conditions": conditions}}


def test_each_failed_backup_job_in_the_history_is_a_warn_line() -> None:
    jobs = [
        job("redis-backup-29400660", None),
        job("redis-backup-29400690", "2026-11-30T11:31:10Z"),
        job("redis-backup-29400600", "2026-11-30T10:01:12Z"),
        job("redis-restore", "2026-11-30T09:00:00Z", owner=""),  # same labels, run by hand: no backup
    ]
    lines = status.failed_job_lines(jobs, "honeydue")
    assert [(line.level, line.what) for line in lines] == [
        ("WARN", "backup Job redis-backup-29400600"),
        ("WARN", "backup Job redis-backup-29400690"),
    ]
    assert lines[1].detail == (
        "failed 2026-11-30T11:31:10Z (BackoffLimitExceeded: Job has reached the specified backoff limit); its logs: "
        "kubectl -n honeydue logs job/redis-backup-29400690 --all-containers"
    )
    (ok,) = status.failed_job_lines(jobs[:1] + jobs[3:], "honeydue")
    assert ok.level == "OK" and "among the 1 kept" in ok.detail


def kubeconfig(user: dict[str, str]) -> str:
    return json.dumps({"apiVersion": "v1", "kind": "Config", "users": [{"name": "default", "user": user}]})


def test_credential_from_the_client_certificate_or_a_token(tmp_path: Path) -> None:
    cert = base64.b64encode(make_cert(tmp_path, 5).encode()).decode()
    line = status.credential_line(
        kubeconfig({"client-certificate-data": cert, "client-key-data": "x"}), datetime.now(UTC)
    )
    assert line.level == "FAIL" and "days left" in line.detail  # 5 days < the 7-day limit
    token = status.credential_line(kubeconfig({"token": "t"}), NOW)
    assert token.level == "OK" and "no expiry" in token.detail


# ------------------------------------------------------------------------------ the whole command

FAKE_KUBECTL = """#!{python}
import json, sys
canned = json.load(open({canned!r}))
args = sys.argv[1:]
if "secret" in args:
    print(canned["crt"], end="")
elif "jobs" in args and "app.kubernetes.io/name=redis-backup,app.kubernetes.io/instance=honeydue" in args:
    print(json.dumps({{"items": canned["jobs"]}}))
elif args[-4:] == ["cronjob", "redis-backup", "-o", "json"]:
    print(json.dumps(canned.get("cronjob", {{"spec": {{"schedule": "*/30 * * * *"}}}})))
else:
    sys.exit("unexpected kubectl " + " ".join(args))
"""


def github_outputs(text: str) -> dict[str, str]:
    """GitHub's step-output file format: key=value lines and key<<DELIMITER blocks."""
    outputs, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<")[0]:
            key, delimiter = line.split("<<", 1)
            block = []
            for inner in lines:
                if inner == delimiter:
                    break
                block.append(inner)
            else:
                raise AssertionError(f"{key}: no closing {delimiter}")
            outputs[key] = "\n".join(block)
        else:
            key, value = line.split("=", 1)
            outputs[key] = value
    return outputs


@pytest.fixture
def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """A fake kubectl on PATH, stack outputs, the stand-in bucket and the list-only key in the environment."""
    require_tool("rclone")
    canned: dict[str, Any] = {
        "crt": base64.b64encode(make_cert(tmp_path, 5475).encode()).decode(),
        "jobs": [job("redis-backup-29400690", "2026-11-30T11:31:10Z")],
    }
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kubectl"
    fake.write_text(FAKE_KUBECTL.format(python=sys.executable, canned=str(tmp_path / "canned.json")))
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    for key, value in KEYS.items():
        monkeypatch.setenv(key, value)
    cert = base64.b64encode(make_cert(tmp_path, 300).encode()).decode()
    outputs = {"appNamespace": "honeydue", "kubeconfig": kubeconfig({"client-certificate-data": cert})}
    (tmp_path / "outputs.json").write_text(json.dumps(outputs))
    # prod's bucket settings, its bucket a local directory: the real rclone lists it.
    prod = status_bucket.bucket_settings("prod")
    assert prod is not None
    now = datetime.now(UTC)
    bucket = stand_in_bucket(tmp_path, now, {"prod/etcd-snapshot-honeydue-1-1796040000": 2})
    bucket = Bucket(**(vars(prod) | {"name": bucket.name, "redis_folder": "redis"}))
    monkeypatch.setattr(status, "bucket_settings", lambda stack: bucket)
    monkeypatch.setattr(status, "rclone_env", lambda b, environ: local(b))
    return {"canned": canned, "path": tmp_path, "now": now, "bucket": bucket}


def run_status(cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, str], str]:
    (cluster["path"] / "canned.json").write_text(json.dumps(cluster["canned"]))
    verdict = cluster["path"] / "verdict"
    code = status.main(["--outputs", str(cluster["path"] / "outputs.json"), "--verdict", str(verdict)])
    return code, github_outputs(verdict.read_text()), capsys.readouterr().out


def test_make_status_end_to_end(cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    redis = Path(cluster["bucket"].name) / "redis"
    redis.mkdir()
    stamp = (cluster["now"] - timedelta(hours=5)).timestamp()  # stale: the limit is 2 h
    (redis / "redis-20261130T070000Z.rdb").write_bytes(b"x")
    os.utime(redis / "redis-20261130T070000Z.rdb", (stamp, stamp))

    code, outputs, out = run_status(cluster, capsys)
    assert code == 1
    levels = {line.split(":")[0][6:]: line[:4].strip() for line in out.splitlines()}
    assert levels == {
        "newest off-site etcd snapshot": "OK",
        "newest Redis snapshot (B2)": "FAIL",
        "Origin CA certificate": "OK",
        "backup Job redis-backup-29400690": "WARN",
        "backup CronJob": "OK",
        "Pulumi credential (kubeconfig client certificate)": "OK",
    }, out
    assert (outputs["verdict"], outputs["exit_code"]) == ("stale", "1")
    assert "stale backups or expiring credentials" in outputs["report"] and out.strip() in outputs["report"]

    # An hour later the same things are wrong: the same fingerprint (the workflow comments only on a change).
    os.utime(redis / "redis-20261130T070000Z.rdb", (stamp - 3600, stamp - 3600))
    assert run_status(cluster, capsys)[1]["fingerprint"] == outputs["fingerprint"]
    # A fresh snapshot: exit 0, and the failed Job alone does not fail the check.
    fresh = cluster["now"].timestamp()
    os.utime(redis / "redis-20261130T070000Z.rdb", (fresh, fresh))
    code, ok, _ = run_status(cluster, capsys)
    assert (code, ok["verdict"], ok["exit_code"]) == (0, "ok", "0") and ok["fingerprint"] != outputs["fingerprint"]


def test_a_suspended_backup_cronjob_is_a_warn_line(cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """A restore that failed leaves the CronJob suspended (tools/redis_restore.py); the stack does not manage
    the field, so only status can tell."""
    cluster["canned"]["cronjob"] = {"spec": {"schedule": "*/30 * * * *", "suspend": True}}
    out = run_status(cluster, capsys)[2]
    assert "WARN  backup CronJob: redis-backup is suspended: no Redis snapshots are taken" in out


def test_checks_that_cannot_run_exit_2_and_say_so(cluster: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    (cluster["path"] / "bin" / "kubectl").write_text("#!/bin/sh\necho 'Unable to connect to the server' >&2\nexit 1\n")
    code, outputs, out = run_status(cluster, capsys)
    assert code == 2 and out == ""
    assert (outputs["verdict"], outputs["exit_code"]) == ("failed", "2")
    assert "could not run its checks" in outputs["report"] and "Unable to connect to the server" in outputs["report"]
